"""Random-window batches from token shards, with a resumable position.

Each batch picks B random start offsets and cuts windows of T+1 tokens: inputs
are tokens [0, T), targets the same window shifted by one, [1, T+1). All the
randomness comes from one seeded numpy generator whose state is saved in
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

from lmforge.errors import DataError


class RandomWindowSampler:
    def __init__(self, shards: Sequence[np.ndarray], block_size: int, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        self.shards = [s for s in shards if len(s) > block_size + 1]
        if not self.shards:
            longest = max((len(s) for s in shards), default=0)
            raise DataError(f"no shard is longer than block_size+1 = {block_size + 1} tokens (longest: {longest})")
        if batch_size % world_size:
            raise DataError(f"batch_size {batch_size} does not split over {world_size} ranks")
        self.block_size, self.batch_size = block_size, batch_size
        per_rank = batch_size // world_size
        self.rows = range(rank * per_rank, (rank + 1) * per_rank)  # this rank's rows of every global batch
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
