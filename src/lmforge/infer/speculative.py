"""Speculative decoding: a cheap draft proposes ``k`` tokens, the target checks them in one forward pass.

Decoding is memory-bound: a target step reads every weight to produce one token. Reading them once for
``k + 1`` positions costs about the same, so if a draft model that shares the tokenizer guesses the next
tokens well, the target accepts several per pass (Leviathan et al. 2023; Chen et al. 2023).

The rule that keeps the target's distribution exactly: the draft samples x from its distribution q; the
target keeps x with probability min(1, p(x) / q(x)); on a rejection it draws from max(0, p - q),
renormalised, and the round ends. If all ``k`` are kept, the target's last position gives one more token
for free. P(token = y) = q(y) min(1, p(y)/q(y)) + P(reject) (p(y) - q(y))+ / sum (p - q)+ = p(y).
Greedy decoding is the case where p and q put all mass on their argmax: a proposal is kept exactly when
it is the target's own choice, so the output is the target's greedy output, token for token.

:func:`first_layers_draft` makes a *self-speculative* draft from a Llama: its first layers with the
shared embedding, final norm and head (no extra weights; the head still has to be read every step).
Both models keep a KV cache; after a round each is cut back to the tokens that were kept.
Penalties (repetition, frequency) are not supported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from lmforge.errors import LmforgeError
from lmforge.infer.engine import seeded_generator
from lmforge.infer.sampling import SamplingConfig, filter_logits
from lmforge.models.base import CausalLM
from lmforge.models.blocks.kv_cache import KVCache
from lmforge.models.llama import Llama


def first_layers_draft(model: Llama, n_layers: int) -> Llama:
    """The first ``n_layers`` blocks of ``model`` with its embedding, final norm and head, all shared."""
    if not 0 < n_layers < model.config.n_layers:
        raise LmforgeError(f"the draft needs 1 to {model.config.n_layers - 1} layers, got {n_layers}")
    with torch.device("meta"):  # nothing to allocate: every module is replaced by the target's own
        draft = Llama(replace(model.config, n_layers=n_layers))
    draft.tok_emb, draft.norm, draft.lm_head = model.tok_emb, model.norm, model.lm_head
    draft.blocks = nn.ModuleList(model.blocks[:n_layers])
    return draft.eval()


@dataclass
class SpeculativeStats:
    proposed: int = 0
    accepted: int = 0
    target_passes: int = 0

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else 0.0


def token_probs(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """(V,) logits -> the distribution ``config`` samples from (one-hot on the argmax when greedy)."""
    if config.temperature == 0:
        return torch.nn.functional.one_hot(logits.argmax(), logits.shape[-1]).float()
    filtered = filter_logits(logits.float()[None] / config.temperature, config.top_k, config.top_p, config.min_p)
    return torch.softmax(filtered[0], dim=-1)


def accept_or_resample(p: torch.Tensor, q: torch.Tensor, proposal: int,
                       generator: torch.Generator | None) -> tuple[int, bool]:
    """Keep the draft's ``proposal`` (drawn from q) with probability min(1, p/q), else draw from (p - q)+."""
    u = torch.rand((), generator=generator, device=p.device)
    if u * q[proposal] < p[proposal]:
        return proposal, True
    residual = (p - q).clamp(min=0)
    return int(torch.multinomial(residual / residual.sum(), 1, generator=generator)), False


def _draw(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.inference_mode()
def speculative_generate(target: CausalLM, draft: CausalLM, prompt_ids: Sequence[int], config: SamplingConfig,
                         k: int = 4) -> tuple[list[int], SpeculativeStats]:
    """New token ids (a stop token ends them, not returned) distributed as the target alone would sample them."""
    config.validate()
    if config.penalized:
        raise LmforgeError("speculative decoding does not apply repetition/frequency/presence penalties")
    if k < 1 or not prompt_ids or len(prompt_ids) + config.max_new_tokens + k + 1 > target.context_length:
        raise LmforgeError(f"k must be >= 1 and prompt + max_new_tokens + k + 1 fit the context "
                           f"({target.context_length}); got k={k}, {len(prompt_ids)} + {config.max_new_tokens}")
    device = target.tok_emb.weight.device
    generator = seeded_generator(config.seed, device)
    t_cache, d_cache = target.new_cache(1), draft.new_cache(1)
    uncuttable = next((c for c in (t_cache, d_cache) if not isinstance(c, KVCache)), None)
    if uncuttable is not None:  # e.g. a sliding window's cache
        raise LmforgeError("speculative decoding cuts rejected proposals off the KV cache; this model's cache "
                           f"({type(uncuttable).__name__}) keeps only a window and cannot be cut back")
    ids, out, stats = list(prompt_ids), [], SpeculativeStats()

    def read(model: CausalLM, cache, tokens: list[int]) -> torch.Tensor:  # -> (T, V) logits
        return model(torch.tensor([tokens], device=device), cache)[0]

    while len(out) < config.max_new_tokens:
        # both caches hold every id but the last; the draft may also lag one accepted token behind
        proposals, qs = [], []
        feed = ids[d_cache.length:]
        for _ in range(k):
            q = token_probs(read(draft, d_cache, feed)[-1], config)
            proposals.append(_draw(q, generator))
            qs.append(q)
            feed = proposals[-1:]
        logits = read(target, t_cache, ids[t_cache.length:] + proposals)[-(k + 1):]  # (k+1, V)
        stats.target_passes += 1
        stats.proposed += k
        new = []
        for i, proposal in enumerate(proposals):
            token, kept = accept_or_resample(token_probs(logits[i], config), qs[i], proposal, generator)
            new.append(token)
            stats.accepted += kept
            if not kept:
                break
        else:  # every proposal kept: the target's last position gives one more token
            new.append(_draw(token_probs(logits[k], config), generator))
        for token in new:
            if token in config.stop_tokens or len(out) == config.max_new_tokens:
                return out, stats
            out.append(token)
            ids.append(token)
        t_cache.length = len(ids) - 1  # forget what was read past the kept tokens
        d_cache.length = min(d_cache.length, len(ids) - 1)
    return out, stats
