"""Multiple choice by log-likelihood, as lm-eval-harness scores its ``multiple_choice`` tasks.

    from lmforge.evaluate.choice import score_choices
    score_choices(model, encode, items, context_length, batch_size=16) -> ChoiceResult

For every item, each choice's continuation ``" " + choice`` is scored after the context: the sum of
the log-probabilities of its tokens. ``acc`` picks the choice with the highest sum; ``acc_norm``
divides each sum by the choice's length in characters first, so long endings are not penalised
for having more tokens (lm-eval's ``acc_norm``; the length is of the choice without the space).

Tokenization follows lm-eval's ``_encode_pair`` so the numbers match it: trailing spaces of the
context move to the continuation, ``whole = encode(context + continuation)``, and the continuation
tokens are ``whole[len(encode(context)):]``. Inputs longer than ``context_length + 1`` tokens are cut
from the left. Requests of all items are sorted by length and scored ``batch_size`` at a time in one
forward pass (right-padded: a causal model's earlier positions never see the padding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmforge.devices import module_device
from lmforge.errors import DataError
from lmforge.evaluate.choice_items import ChoiceItem

LogitsFn = Callable[[torch.Tensor], torch.Tensor]  # ids (B, T) -> next-token logits (B, T, V)


@dataclass(frozen=True)
class ItemScore:
    line: int
    loglikelihoods: list[float]  # one per choice
    gold: int
    pred: int  # argmax of the log-likelihoods
    pred_norm: int  # argmax of log-likelihood / len(choice)


@dataclass(frozen=True)
class ChoiceResult:
    items: list[ItemScore]

    @property
    def acc(self) -> float:
        return sum(i.pred == i.gold for i in self.items) / len(self.items)

    @property
    def acc_norm(self) -> float:
        return sum(i.pred_norm == i.gold for i in self.items) / len(self.items)


def encode_pair(encode: Callable[[str], list[int]], context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) as lm-eval splits them (see the module docstring)."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole, head = encode(context + continuation), encode(context)
    return head, whole[len(head):]


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))  # the first of equal maxima, as numpy's


@torch.no_grad()
def continuation_loglikelihoods(model: LogitsFn, requests: Sequence[tuple[list[int], list[int]]],
                                context_length: int, batch_size: int = 16) -> list[float]:
    """Sum of log P(continuation tokens | context) for each (context ids, continuation ids) request."""
    if isinstance(model, torch.nn.Module):
        model.eval()
    inputs = [(ctx + cont)[-(context_length + 1):][:-1] for ctx, cont in requests]
    order = sorted(range(len(requests)), key=lambda i: -len(inputs[i]))
    out = [0.0] * len(requests)
    device = module_device(model)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = len(inputs[rows[0]])
        x = torch.zeros(len(rows), width, dtype=torch.long)  # (B, T), right-padded with id 0
        for r, i in enumerate(rows):
            x[r, :len(inputs[i])] = torch.tensor(inputs[i])
        logits = model(x.to(device))  # (B, T, V)
        sums = []
        for r, i in enumerate(rows):
            cont, n = requests[i][1], len(inputs[i])
            # positions n-len(cont)..n-1 predict the continuation's tokens
            logp = F.log_softmax(logits[r, n - len(cont):n].float(), dim=-1)  # (k, V)
            sums.append(logp.gather(-1, torch.tensor(cont, device=logp.device)[:, None]).sum())
        for i, value in zip(rows, torch.stack(sums).tolist(), strict=True):  # one host copy per batch
            out[i] = value
    return out


def score_choices(model: LogitsFn, encode: Callable[[str], list[int]], items: Sequence[ChoiceItem],
                  context_length: int, batch_size: int = 16, source: str = "items") -> ChoiceResult:
    """Score every choice of every item (one batch mixes items) and pick answers by acc and acc_norm."""
    requests, owner = [], []
    for n, item in enumerate(items):
        for choice in item.choices:
            ctx, cont = encode_pair(encode, item.context, " " + choice)
            if not cont:
                raise DataError(f"{source}: line {item.line}: the choice {choice!r} encodes to no tokens")
            if not ctx:
                raise DataError(f"{source}: line {item.line}: the context encodes to no tokens")
            requests.append((ctx, cont))
            owner.append(n)
    lls = continuation_loglikelihoods(model, requests, context_length, batch_size)
    per_item: list[list[float]] = [[] for _ in items]
    for n, ll in zip(owner, lls, strict=True):
        per_item[n].append(ll)
    scores = []
    for item, ll in zip(items, per_item, strict=True):
        normed = [v / len(c) for v, c in zip(ll, item.choices, strict=True)]
        scores.append(ItemScore(item.line, ll, item.gold, _argmax(ll), _argmax(normed)))
    return ChoiceResult(scores)
