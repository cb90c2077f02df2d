"""Window batches from token shards, with a resumable position, in one of two data orders.

Each batch cuts B windows of T+1 tokens: inputs are tokens [0, T), targets the same window shifted by one,
[1, T+1). :class:`RandomWindowSampler` (``data_order="random"``, nanoGPT's) draws every start at random, with
replacement; :class:`EpochWindowSampler` (``"epochs"``) deals each epoch's windows once, in a shuffled order.
All the randomness comes from seeded numpy generators whose state (or epoch and position) is saved in
checkpoints, so a resumed run sees exactly the batches it would have seen.

Under ``torchrun`` every rank holds the same generator and draws the whole
(global) batch's offsets, but cuts only its own ``batch_size / world_size``
rows: the ranks' rows are disjoint, together they are the single-process batch,
and the saved position is the same on every rank (so any world size resumes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from lmforge.errors import ConfigError, DataError


def usable_shards(shards: Sequence[np.ndarray], block_size: int, batch_size: int, rank: int,
                  world_size: int) -> tuple[list[np.ndarray], range]:
    """The shards that hold a whole window of ``block_size + 1`` tokens, and this rank's rows of every global
    batch; refuses data with no such shard and a batch that does not split over the ranks."""
    usable = [s for s in shards if len(s) > block_size + 1]
    if not usable:
        longest = max((len(s) for s in shards), default=0)
        raise DataError(f"no shard is longer than block_size+1 = {block_size + 1} tokens (longest: {longest})")
    if batch_size % world_size:
        raise DataError(f"batch_size {batch_size} does not split over {world_size} ranks")
    per_rank = batch_size // world_size
    return usable, range(rank * per_rank, (rank + 1) * per_rank)


class RandomWindowSampler:
    def __init__(self, shards: Sequence[np.ndarray], block_size: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.shards, self.rows = usable_shards(shards, block_size, batch_size, rank, world_size)
        self.block_size, self.batch_size = block_size, batch_size
        lengths = np.array([len(s) - block_size - 1 for s in self.shards], dtype=np.float64)
        self.shard_weights = lengths / lengths.sum()  # pick shards in proportion to their windows
        self.rng = np.random.default_rng(seed)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return inputs and targets, each (B / world_size, T) int64: this rank's rows of the global batch."""
        T = self.block_size
        which = self.rng.choice(len(self.shards), size=self.batch_size, p=self.shard_weights)
        windows = np.empty((len(self.rows), T + 1), dtype=np.int64)
        for row, shard_index in enumerate(which):
            shard = self.shards[shard_index]
            start = int(self.rng.integers(0, len(shard) - T - 1))  # drawn for every row: the same stream everywhere
            if row in self.rows:
                windows[row - self.rows.start] = shard[start : start + T + 1]
        batch = torch.from_numpy(windows)
        return batch[:, :-1], batch[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


class EpochWindowSampler:
    """Every target token once per epoch: each epoch cuts every shard into back-to-back windows (stride T, so a
    window's last target is the next one's first input) from a random phase in [0, T), shuffles all windows and
    deals them out B at a time; an epoch's last, partial batch is dropped.

    Why: random starts (:class:`RandomWindowSampler`) are drawn with replacement, so after one epoch's worth of
    windows ~37% of the text (1/e) has not been a target yet while some has been seen twice; on a small corpus
    trained for several passes (the quickstart: ~10 in 10 minutes) dealing every window once per pass spreads
    the passes evenly. The order is a function of (seed, epoch), so the state is just (epoch, position).
    Ranks under ``torchrun`` deal the same global batches and cut disjoint rows, as in the random order.
    """

    def __init__(self, shards: Sequence[np.ndarray], block_size: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.shards, self.rows = usable_shards(shards, block_size, batch_size, rank, world_size)
        self.block_size, self.batch_size, self.seed = block_size, batch_size, seed
        self.epoch, self.position = 0, 0
        self._deal()
        if len(self._starts) < batch_size:
            raise DataError(f"the data holds {len(self._starts)} windows of {block_size + 1} tokens, fewer than one "
                            f"batch of {batch_size}: use data_order random or a smaller batch")

    def _deal(self) -> None:
        """This epoch's windows, shuffled: parallel arrays of shard index and start offset."""
        rng = np.random.default_rng([self.seed, self.epoch])
        T, which, starts = self.block_size, [], []
        for i, shard in enumerate(self.shards):
            first = int(rng.integers(0, T))  # a new phase each epoch: windows do not always break at the same token
            offsets = np.arange(first, len(shard) - T, T)  # each window needs T + 1 tokens
            which.append(np.full(len(offsets), i))
            starts.append(offsets)
        order = rng.permutation(sum(len(o) for o in starts))
        self._which, self._starts = np.concatenate(which)[order], np.concatenate(starts)[order]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return inputs and targets, each (B / world_size, T) int64: this rank's rows of the global batch."""
        if self.position + self.batch_size > len(self._starts):  # the epoch's remainder is dropped
            self.epoch, self.position = self.epoch + 1, 0
            self._deal()
        picked = slice(self.position + self.rows.start, self.position + self.rows.stop)
        self.position += self.batch_size
        T = self.block_size
        windows = np.stack([self.shards[i][s : s + T + 1] for i, s in zip(self._which[picked], self._starts[picked],
                                                                            strict=True)]).astype(np.int64)
        batch = torch.from_numpy(windows)
        return batch[:, :-1], batch[:, 1:]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["epoch"] != self.epoch:
            self.epoch = state["epoch"]
            self._deal()
        self.position = state["position"]


DATA_ORDERS = {"random": RandomWindowSampler, "epochs": EpochWindowSampler}


def check_data_order(order: str) -> None:
    if order not in DATA_ORDERS:
        raise ConfigError(f"data_order must be one of {', '.join(DATA_ORDERS)}; got {order!r}")


def window_sampler(order: str, shards: Sequence[np.ndarray], block_size: int, batch_size: int, seed: int = 0,
                   rank: int = 0, world_size: int = 1) -> RandomWindowSampler | EpochWindowSampler:
    """The training sampler for ``order`` (one of :data:`DATA_ORDERS`)."""
    check_data_order(order)
    return DATA_ORDERS[order](shards, block_size, batch_size, seed=seed, rank=rank, world_size=world_size)
