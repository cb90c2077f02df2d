"""Turning a trained :class:`Seq2Seq` into output words: greedy decoding and beam search.

Greedy takes the single most likely word at each step. Beam search keeps the
``k`` most likely partial translations (by summed log-probability) and extends
each of them, so a word that looks slightly worse now can win later. Finished
hypotheses (ending in ``</s>``) are ranked by

    score = log p(y | x) / lp(y),   lp(y) = ((5 + |y|) / 6) ** alpha   (Wu et al. 2016, GNMT)

alpha = 0 ranks by raw log-probability, which favours short outputs (every word
multiplies in a probability < 1); alpha around 0.6-1.0 removes that bias.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from lmforge.models.seq2seq import Encoded, Seq2Seq, State, map_state


@dataclass
class Hypothesis:
    tokens: list[int]  # output ids, without </s>
    log_prob: float  # log p of the tokens and, if finished, of the final </s>
    attention: torch.Tensor | None  # (steps, S): one row of weights per decoder step (None without attention)
    finished: bool  # True if the model ended it with </s> (else it hit the length limit)

    def score(self, length_penalty: float) -> float:
        steps = len(self.tokens) + int(self.finished)
        return self.log_prob / (((5 + steps) / 6) ** length_penalty)


def length_limit(model: Seq2Seq, src_len: int) -> int:
    """Translations rarely exceed twice the source length; the hard cap is the config's max_target_len."""
    return min(model.config.max_target_len, 2 * src_len + 10)


def _step(model: Seq2Seq, words: torch.Tensor, state: State, enc: Encoded):
    logits, state, attn = model.decoder(words[:, None], state, enc)  # words (N,) -> logits (N, 1, V)
    return logits[:, 0].float().log_softmax(-1), state, None if attn is None else attn[:, 0]


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src: torch.Tensor, src_lens: torch.Tensor) -> list[Hypothesis]:
    """Decode a whole batch at once, src (B, S); each sentence stops at its own </s>."""
    model.eval()
    c = model.config
    enc, state = model.encode(src, src_lens)
    B = src.size(0)
    words = torch.full((B,), c.bos_id, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    log_prob = torch.zeros(B)
    limits = [length_limit(model, int(n)) for n in src_lens]  # the same per-sentence limit as beam search
    limit_of = torch.tensor(limits)
    tokens: list[torch.Tensor] = []
    rows: list[torch.Tensor] = []
    for t in range(max(limits)):
        logp, state, attn = _step(model, words, state, enc)  # (B, V)
        best_logp, words = logp.max(-1)  # (B,), (B,)
        log_prob += torch.where(done, 0.0, best_logp)
        tokens.append(torch.where(done, c.pad_id, words))
        if attn is not None:
            rows.append(attn)
        done |= (words == c.eos_id) | (t + 1 >= limit_of)
        if done.all():
            break
    out = []
    for b in range(B):
        ids = [int(step[b]) for step in tokens[: limits[b]]]
        finished = c.eos_id in ids
        ids = ids[: ids.index(c.eos_id)] if finished else ids
        steps = len(ids) + int(finished)
        attention = torch.stack([r[b, : int(src_lens[b])] for r in rows[:steps]]) if rows else None
        out.append(Hypothesis(ids, float(log_prob[b]), attention, finished))
    return out


@torch.no_grad()
def beam_search(model: Seq2Seq, src: torch.Tensor, beam_size: int = 5,
                length_penalty: float = 0.0) -> list[Hypothesis]:
    """Beam search for one sentence, src (1, S). Returns the hypotheses, best first.

    At each step the live hypotheses are extended by every word and the best
    ``2k`` extensions are walked in order: one ending in </s> within the first
    ``k`` is finished, the others (up to ``k``) stay live. The search stops
    when ``k`` hypotheses have finished, or at the length limit.
    """
    if src.size(0) != 1:
        raise ValueError("beam_search decodes one sentence at a time: src must be (1, S)")
    model.eval()
    c = model.config
    src_len = src.size(1)
    enc, state = model.encode(src, torch.tensor([src_len]))
    live = [Hypothesis([], 0.0, None, False)]
    live_rows: list[list[torch.Tensor]] = [[]]  # attention rows per live hypothesis
    finished: list[Hypothesis] = []
    for _ in range(length_limit(model, src_len)):
        n = len(live)
        last = torch.tensor([h.tokens[-1] if h.tokens else c.bos_id for h in live])
        logp, state, attn = _step(model, last, state, enc.repeat(n))  # (n, V)
        totals = torch.tensor([h.log_prob for h in live])[:, None] + logp  # (n, V)
        values, flat = totals.flatten().topk(min(2 * beam_size, totals.numel()))
        keep, new_live, new_rows = [], [], []
        for rank, (value, index) in enumerate(zip(values.tolist(), flat.tolist(), strict=True)):
            parent, word = divmod(index, logp.size(1))
            rows = live_rows[parent] + ([] if attn is None else [attn[parent]])
            if word == c.eos_id:
                if rank < beam_size:
                    finished.append(Hypothesis(live[parent].tokens, value, _stack(rows), True))
                continue
            if len(new_live) < beam_size:
                keep.append(parent)
                new_live.append(Hypothesis([*live[parent].tokens, word], value, None, False))
                new_rows.append(rows)
        if len(finished) >= beam_size or not new_live:
            break
        # each survivor continues from its parent's state: (L, n, H) -> (L, len(keep), H)
        state = map_state(state, partial(torch.index_select, dim=1, index=torch.tensor(keep)))
        live, live_rows = new_live, new_rows
    else:  # length limit: unfinished hypotheses compete too
        finished += [Hypothesis(h.tokens, h.log_prob, _stack(r), False) for h, r in zip(live, live_rows, strict=True)]
    return sorted(finished, key=lambda h: h.score(length_penalty), reverse=True)


def _stack(rows: list[torch.Tensor]) -> torch.Tensor | None:
    return torch.stack(rows) if rows else None
