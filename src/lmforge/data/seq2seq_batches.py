"""Word vocabularies and padded mini-batches for sequence-to-sequence training.

A batch holds a padded source, its true lengths, and the target twice, shifted:
the decoder reads ``<s> y1 .. yn`` (``tgt_in``) and must predict
``y1 .. yn </s>`` (``tgt_out``), one position ahead, as in language modelling.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import torch

from lmforge.errors import ConfigError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)  # ids 0..3 in every vocabulary

Example = tuple[list[int], list[int]]  # (source ids, target ids), without <s>/</s>


class Vocab:
    """Word <-> id. Ids 0-3 are the special tokens; unknown words map to ``<unk>``."""

    def __init__(self, words: Sequence[str]) -> None:
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise ConfigError(f"a vocabulary must start with the special tokens {list(SPECIALS)}")
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ConfigError("the vocabulary lists a word twice")

    pad_id, unk_id, bos_id, eos_id = range(4)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1) -> Vocab:
        """Every word seen at least ``min_freq`` times, most frequent first (ties alphabetical, so reproducible)."""
        counts = Counter(w for sentence in sentences for w in sentence)
        kept = sorted((w for w, n in counts.items() if n >= min_freq), key=lambda w: (-counts[w], w))
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.index.get(t, self.unk_id) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[i] for i in ids]


class PairBatch(NamedTuple):
    src: torch.Tensor  # (B, S) source ids, right-padded with <pad>
    src_lens: torch.Tensor  # (B,) true source lengths
    tgt_in: torch.Tensor  # (B, T) <s> y1 .. yn, padded
    tgt_out: torch.Tensor  # (B, T) y1 .. yn </s>, padded


def collate(examples: Sequence[Example]) -> PairBatch:
    """Pad a list of (source, target) id lists into one batch."""
    S = max(len(s) for s, _ in examples)
    T = max(len(t) for _, t in examples) + 1
    src = torch.full((len(examples), S), Vocab.pad_id, dtype=torch.long)
    tgt_in = torch.full((len(examples), T), Vocab.pad_id, dtype=torch.long)
    tgt_out = torch.full((len(examples), T), Vocab.pad_id, dtype=torch.long)
    for row, (s, t) in enumerate(examples):
        src[row, : len(s)] = torch.tensor(s)
        tgt_in[row, : len(t) + 1] = torch.tensor([Vocab.bos_id, *t])
        tgt_out[row, : len(t) + 1] = torch.tensor([*t, Vocab.eos_id])
    lens = torch.tensor([len(s) for s, _ in examples])
    return PairBatch(src, lens, tgt_in, tgt_out)


class PairBatches:
    """Shuffled batches, epoch after epoch; the position is saved in checkpoints so resuming is exact.

    Each epoch's order is a permutation drawn from ``seed`` and the epoch number,
    so the state is just two integers.
    """

    def __init__(self, examples: Sequence[Example], batch_size: int, seed: int = 0) -> None:
        if not examples:
            raise ConfigError("no training examples")
        if any(not s or not t for s, t in examples):
            raise ConfigError("every example needs a non-empty source and target")
        self.examples, self.batch_size, self.seed = list(examples), batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> list[int]:
        order = list(range(len(self.examples)))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        return order

    def next_batch(self) -> PairBatch:
        if self.position >= len(self.examples):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        picked = self._order[self.position : self.position + self.batch_size]
        self.position += len(picked)
        return collate([self.examples[i] for i in picked])

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation()


def batches_in_order(examples: Sequence[Example], batch_size: int) -> list[PairBatch]:
    """Fixed batches (for validation: the same every time, so losses compare)."""
    return [collate(examples[i : i + batch_size]) for i in range(0, len(examples), batch_size)]
