"""Mini-batches of already-encoded task examples, for the one Trainer.

:class:`ExampleBatches` shuffles the examples once per epoch with a seeded generator and
hands out fixed-size batches; its position (epoch, offset) is part of every checkpoint,
so a resumed fine-tune sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import torch

E = TypeVar("E")


def pad(rows: Sequence[Sequence[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to one length: ``ids`` (B, T) and ``mask`` (B, T), 1 on real tokens."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), value, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


class ExampleBatches(Generic[E]):
    """``next_batch()`` -> ``collate(examples)`` for ``batch_size`` examples, reshuffled every epoch."""

    def __init__(self, examples: Sequence[E], batch_size: int, collate: Callable[[list[E]], Any], seed: int = 0):
        if not examples:
            raise ValueError("no training examples")
        self.examples, self.batch_size, self.collate, self.seed = examples, batch_size, collate, seed
        self.epoch, self.offset = 0, 0
        self._order = self._shuffle()

    def _shuffle(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(len(self.examples), generator=g).tolist()

    def next_batch(self) -> Any:
        if self.offset + self.batch_size > len(self._order) and self.offset > 0:
            self.epoch, self.offset = self.epoch + 1, 0
            self._order = self._shuffle()
        picked = self._order[self.offset:self.offset + self.batch_size]
        self.offset += self.batch_size
        return self.collate([self.examples[i] for i in picked])

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.offset, self.seed = state["epoch"], state["offset"], state["seed"]
        self._order = self._shuffle()


def in_batches(examples: Sequence[E], batch_size: int, collate: Callable[[list[E]], Any]) -> Iterator[Any]:
    """Evaluation order: every example once, in order."""
    for start in range(0, len(examples), batch_size):
        yield collate(list(examples[start:start + batch_size]))


def steps_for(n_examples: int, batch_size: int, epochs: float) -> int:
    """Optimizer steps that cover ``epochs`` passes over the data."""
    return max(1, round(epochs * n_examples / batch_size))
