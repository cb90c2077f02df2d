"""Encoder-decoder decoding, for every ``SEQ2SEQ`` model (the RNN seq2seq and T5): greedy and beam search.

Both work on token ids through the small :class:`~lmforge.models.base.EncoderDecoder`
interface: encode the source once, then step the decoder one word at a time, carrying its
state (an RNN state, a KV cache). Greedy takes the single most likely word at each step.
Beam search keeps the ``k`` most likely partial outputs (by summed log-probability) and
extends each of them, so a word that looks slightly worse now can win later. Finished
hypotheses (ending in ``</s>``) are ranked by

    score = log p(y | x) / lp(y),   lp(y) = ((5 + |y|) / 6) ** alpha   (Wu et al. 2016, GNMT)

alpha = 0 ranks by raw log-probability, which favours short outputs (every word
multiplies in a probability < 1); alpha around 0.6-1.0 removes that bias.

The end-of-output id and the length limit are the caller's: they belong to the vocabulary
and the task, not to the network. ``max_len`` is a number of words, or a function of the
source length (the RNN translator allows about twice the source, see ``Seq2Seq.length_limit``).
``eos_id=None`` decodes exactly ``max_len`` words (as a parity test against HF does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lmforge.devices import module_device
from lmforge.models.base import EncoderDecoder

MaxLen = int | Callable[[int], int]  # words, or source length -> words


@dataclass
class Hypothesis:
    tokens: list[int]  # output ids, without </s>
    log_prob: float  # log p of the tokens and, if finished, of the final </s>
    attention: torch.Tensor | None  # (steps, S): one row of weights per decoder step (None without attention)
    finished: bool  # True if the model ended it with </s> (else it hit the length limit)

    def score(self, length_penalty: float) -> float:
        steps = len(self.tokens) + int(self.finished)
        return self.log_prob / (((5 + steps) / 6) ** length_penalty)


@torch.no_grad()
def greedy_decode(model: EncoderDecoder, src: torch.Tensor, src_lens: torch.Tensor | None, eos_id: int | None,
                  max_len: MaxLen) -> list[Hypothesis]:
    """Decode a whole batch at once, src (B, S) (right-padded to ``src_lens``; None: no padding).

    Each sentence stops at its own </s> or at its length limit; the batch stops when all have.
    """
    model.eval()
    lengths = [src.size(1)] * src.size(0) if src_lens is None else [int(n) for n in src_lens]
    limits = [_limit(max_len, n) for n in lengths]
    memory, state = model.start_decoding(src, src_lens, max(limits))
    B = src.size(0)
    words = torch.full((B,), model.decoder_start_id, dtype=torch.long, device=src.device)
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    log_prob = torch.zeros(B, device=src.device)
    limit_of = torch.tensor(limits, device=src.device)
    tokens: list[torch.Tensor] = []
    rows: list[torch.Tensor] = []
    for t in range(max(limits)):
        logp, state, attn = model.decode_step(words, state, memory)  # (B, V)
        best_logp, words = logp.max(-1)  # (B,), (B,)
        log_prob += torch.where(done, 0.0, best_logp)
        tokens.append(words)  # a finished sentence's later words are cut off below
        if attn is not None:
            rows.append(attn)
        done |= t + 1 >= limit_of
        if eos_id is not None:
            done |= words == eos_id
        if done.all():
            break
    out = []
    for b in range(B):
        ids = [int(step[b]) for step in tokens[: limits[b]]]
        finished = eos_id in ids
        ids = ids[: ids.index(eos_id)] if finished else ids
        steps = len(ids) + int(finished)
        attention = torch.stack([r[b, : lengths[b]] for r in rows[:steps]]) if rows else None
        out.append(Hypothesis(ids, float(log_prob[b]), attention, finished))
    return out


def greedy_decode_many(model: EncoderDecoder, sources: Sequence[Sequence[int]], pad_id: int, eos_id: int | None,
                       max_len: MaxLen, batch_size: int = 128) -> list[Hypothesis]:
    """:func:`greedy_decode` of many source id lists, ``batch_size`` at a time, each batch right-padded."""
    out: list[Hypothesis] = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        src = torch.full((len(chunk), max(map(len, chunk))), pad_id, dtype=torch.long)  # (B, S)
        for row, ids in enumerate(chunk):
            src[row, : len(ids)] = torch.tensor(ids)
        out += greedy_decode(model, src.to(module_device(model)), torch.tensor([len(ids) for ids in chunk]), eos_id,
                             max_len)
    return out


@torch.no_grad()
def beam_search(model: EncoderDecoder, src: torch.Tensor, eos_id: int, max_len: MaxLen, beam_size: int = 5,
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
    limit = _limit(max_len, src.size(1))
    memory, state = model.start_decoding(src, torch.tensor([src.size(1)]), limit)
    live = [Hypothesis([], 0.0, None, False)]
    live_rows: list[list[torch.Tensor]] = [[]]  # attention rows per live hypothesis
    finished: list[Hypothesis] = []
    for _ in range(limit):
        last = torch.tensor([h.tokens[-1] if h.tokens else model.decoder_start_id for h in live], device=src.device)
        logp, state, attn = model.decode_step(last, state, model.repeat_memory(memory, len(live)))  # (n, V)
        totals = torch.tensor([h.log_prob for h in live], device=src.device)[:, None] + logp  # (n, V)
        values, flat = totals.flatten().topk(min(2 * beam_size, totals.numel()))
        keep, new_live, new_rows = [], [], []
        for rank, (value, index) in enumerate(zip(values.tolist(), flat.tolist(), strict=True)):
            parent, word = divmod(index, logp.size(1))
            rows = live_rows[parent] + ([] if attn is None else [attn[parent]])
            if word == eos_id:
                if rank < beam_size:
                    finished.append(Hypothesis(live[parent].tokens, value, _stack(rows), True))
                continue
            if len(new_live) < beam_size:
                keep.append(parent)
                new_live.append(Hypothesis([*live[parent].tokens, word], value, None, False))
                new_rows.append(rows)
        if len(finished) >= beam_size or not new_live:
            break
        state = model.select_rows(state, torch.tensor(keep, device=src.device))  # each survivor continues its parent
        live, live_rows = new_live, new_rows
    else:  # length limit: unfinished hypotheses compete too
        finished += [Hypothesis(h.tokens, h.log_prob, _stack(r), False) for h, r in zip(live, live_rows, strict=True)]
    return sorted(finished, key=lambda h: h.score(length_penalty), reverse=True)


def _limit(max_len: MaxLen, src_len: int) -> int:
    return max_len(src_len) if callable(max_len) else max_len


def _stack(rows: list[torch.Tensor]) -> torch.Tensor | None:
    return torch.stack(rows) if rows else None
