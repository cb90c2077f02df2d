"""Sliding-window perplexity, in nats per token and bits per byte.

Call it with any causal language model as a callable (an ``nn.Module`` is one)::

    from lmforge.evaluate.perplexity import sliding_window_perplexity, PerplexityResult

    sliding_window_perplexity(
        model: Callable[[torch.Tensor], torch.Tensor],  # ids (B, T) -> next-token logits (B, T, V)
        ids: Sequence[int] | torch.Tensor,              # the whole text's token ids, (N,)
        n_bytes: int,                                   # the text's UTF-8 length, for bits per byte
        context_length: int,                            # tokens the model sees at once
        stride: int | None = None,                      # tokens between window starts; None: context_length
        batch_size: int = 4,                            # windows per forward pass
    ) -> PerplexityResult  # .nats_per_token .perplexity .bits_per_byte .n_tokens .n_bytes .nll_sum

The text is read in windows of ``context_length`` tokens that start ``stride`` tokens apart. Each
token is scored exactly once, in the first window where it appears after the previous window's end,
so it is predicted from at least ``context_length - stride`` earlier tokens (all of them near the
start). ``stride = context_length`` is the cheap, pessimistic setting (tokens at a window's start see
little context); a small stride costs ``context_length / stride`` times more forward passes and gets
close to the model's true per-token loss. This is the computation of the Hugging Face guide
"Perplexity of fixed-length models" (labels masked with -100 before the new tokens); the first token
of the text has no context and is never scored, so ``n_tokens = len(ids) - 1`` when ``stride <
context_length``; with ``stride = context_length`` (no overlap) the first token of every window has no
context inside it and is skipped too, as in that guide.

Nats per token depends on the tokenizer (a model with a larger vocabulary has fewer, harder
tokens); bits per byte does not: ``nll_sum / ln 2 / n_bytes`` is the text's code length per UTF-8
byte, which compares models with different tokenizers fairly.

The model is any callable; this module imports no model family (``evaluate`` knows no model).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmforge.devices import module_device
from lmforge.errors import ConfigError

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class PerplexityResult:
    nll_sum: float  # total negative log-likelihood of the scored tokens, in nats
    n_tokens: int  # tokens scored
    n_bytes: int  # UTF-8 bytes of the text

    @property
    def nats_per_token(self) -> float:
        return self.nll_sum / self.n_tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.nats_per_token)

    @property
    def bits_per_byte(self) -> float:
        return self.nll_sum / math.log(2) / self.n_bytes

    def as_dict(self) -> dict[str, float | int]:
        return {"nats_per_token": self.nats_per_token, "perplexity": self.perplexity,
                "bits_per_byte": self.bits_per_byte, "n_tokens": self.n_tokens, "n_bytes": self.n_bytes}


@dataclass(frozen=True)
class Window:
    begin: int  # first token fed to the model
    end: int  # one past the last token fed
    first_target: int  # first token scored in this window (earlier ones are context only)


def windows(n_ids: int, context_length: int, stride: int) -> list[Window]:
    """The windows that score each of tokens 1..n_ids-1 at most once: all of them when ``stride <
    context_length``; with ``stride == context_length`` the first token of each window is skipped."""
    out, prev_end, begin = [], 0, 0
    while prev_end < n_ids:
        end = min(begin + context_length, n_ids)
        out.append(Window(begin, end, max(prev_end, begin + 1)))  # a window's first token has no context in it
        prev_end, begin = end, begin + stride
    return out


@torch.no_grad()
def sliding_window_perplexity(model: LogitsFn, ids: Sequence[int] | torch.Tensor, n_bytes: int,
                              context_length: int, stride: int | None = None,
                              batch_size: int = 4) -> PerplexityResult:
    """Sum the next-token losses of ``ids`` window by window (see the module docstring)."""
    stride = context_length if stride is None else stride
    if not 0 < stride <= context_length:
        raise ConfigError(f"stride must be in 1..context_length={context_length}, got {stride}")
    ids = torch.as_tensor(ids, dtype=torch.long).flatten()  # (N,)
    if ids.numel() < 2:
        raise ConfigError(f"need at least 2 tokens to score a next token, got {ids.numel()}")
    if n_bytes <= 0:
        raise ConfigError(f"n_bytes must be positive, got {n_bytes}")
    if isinstance(model, torch.nn.Module):
        model.eval()
    device = module_device(model)
    todo = windows(ids.numel(), context_length, stride)
    nll, n_scored = 0.0, sum(w.end - w.first_target for w in todo)
    while todo:
        group = _same_length(todo[:batch_size])  # one forward pass stacks windows of one length
        todo = todo[len(group):]
        x = torch.stack([ids[w.begin:w.end] for w in group]).to(device)  # (B, T)
        logits = model(x)  # (B, T, V)
        for row, w in enumerate(group):
            # position t predicts token t+1; the targets are tokens first_target..end-1 of the text
            lo = w.first_target - w.begin - 1
            nll += F.cross_entropy(logits[row, lo:-1].float(), x[row, lo + 1:], reduction="sum").item()
    return PerplexityResult(nll, n_scored, n_bytes)


def _same_length(group: list[Window]) -> list[Window]:
    """The leading windows of ``group`` as long as its first (all are full-length but the text's last)."""
    length = group[0].end - group[0].begin
    n = 1
    while n < len(group) and group[n].end - group[n].begin == length:
        n += 1
    return group[:n]

