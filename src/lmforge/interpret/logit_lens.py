"""The logit lens (nostalgebraist 2020): what a decoder would predict if it stopped after layer l.

A pre-norm decoder adds every layer's output into one residual stream ``x`` (B, T, C) and reads the
next token from the last state only: ``logits = lm_head(norm(x_L))``. The lens applies that same
read-out to every intermediate state ``x_0`` (the embeddings) ... ``x_L``, showing at which depth the
final answer appears. The last row is the model's own logits exactly; early rows are often noise or
echo the input token. Later work (the tuned lens, Belrose et al. 2023) learns a per-layer correction
because intermediate states are not in the final layer's basis; this is the untuned original.

It works on every :class:`~lmforge.models.base.CausalLM` (GPT, Llama): they hold their layers in
``blocks``, the final norm in ``norm`` and the read-out in ``lm_head``; forward hooks record each
block's output during one ordinary forward pass, so nothing in the model changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmforge.errors import ConfigError
from lmforge.models.base import CausalLM
from lmforge.tokenizers import Tokenizer


@torch.no_grad()
def residual_stream(model: CausalLM, ids: torch.Tensor) -> torch.Tensor:
    """Token ids (T,) -> the residual stream before the first block and after each: (L + 1, T, C)."""
    if not isinstance(model, CausalLM):
        raise ConfigError(f"the logit lens reads a decoder-only LM's residual stream; a "
                          f"{getattr(model, 'family', type(model).__name__)!r} model is not one")
    if ids.ndim != 1 or ids.numel() == 0:
        raise ConfigError(f"give one non-empty sequence of token ids (T,), got shape {tuple(ids.shape)}")
    states: list[torch.Tensor] = []
    hooks = [model.blocks[0].register_forward_pre_hook(lambda mod, args: states.append(args[0][0]))]
    hooks += [b.register_forward_hook(lambda mod, args, out: states.append(out[0])) for b in model.blocks]
    was_training = model.training
    try:
        model.eval()
        model(ids[None])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return torch.stack(states)  # (L + 1, T, C)


@torch.no_grad()
def logit_lens(model: CausalLM, ids: torch.Tensor) -> torch.Tensor:
    """(L + 1, T, V) next-token logits read from the embeddings (row 0) and after every layer (row l)."""
    states = residual_stream(model, ids)  # (L + 1, T, C); checks that the model is a decoder first
    # one layer at a time, shaped (1, T, C) as in the forward pass: the head's matmul then sums in the same
    # order, so the last row equals the model's logits bit for bit (a stacked (L + 1, T, C) matmul blocks
    # its sums differently and differs by fp32 rounding, ~1e-5 on SmolLM2)
    return torch.cat([model.lm_head(model.norm(state[None])) for state in states])


@dataclass(frozen=True)
class LensCell:
    """The lens's top prediction at one layer and position."""

    token: str
    probability: float


def top_predictions(lens: torch.Tensor, tokenizer: Tokenizer) -> list[list[LensCell]]:
    """Per layer and position the most likely next token (decoded) and its probability."""
    probs = torch.softmax(lens.float(), dim=-1)  # (L + 1, T, V)
    best_p, best_id = probs.max(-1)  # (L + 1, T)
    return [[LensCell(tokenizer.decode([int(i)]), float(p)) for i, p in zip(ids, ps, strict=True)]
            for ids, ps in zip(best_id, best_p, strict=True)]


def target_rank(lens: torch.Tensor, position: int, token_id: int) -> list[int]:
    """Rank (0 = top) of ``token_id`` among the lens's predictions at ``position``, per layer."""
    scores = lens[:, position].float()  # (L + 1, V)
    return (scores > scores[:, token_id : token_id + 1]).sum(-1).tolist()

