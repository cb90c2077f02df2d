"""Training batches for the pretraining objectives: random corpus windows, corrupted on the fly.

Every objective reads the same token shards as causal-LM training and differs
only in how it turns a (B, L) block of windows into a batch (masking, sentence
pairs, span corruption). :class:`CorruptedWindows` is the Trainer's
``BatchSource``: seeded, and resumable because both the window sampler's and
the corruption's random state go into checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from lmforge.data.sampler import RandomWindowSampler

Corruption = Callable[[torch.Tensor, torch.Generator], Any]


class CorruptedWindows:
    """``next_batch()`` = ``corrupt(windows (B, window_length), generator)``."""

    def __init__(
        self, shards: Sequence[np.ndarray], window_length: int, batch_size: int, corrupt: Corruption, seed: int = 0
    ) -> None:
        self.sampler = RandomWindowSampler(shards, window_length, batch_size, seed=seed)
        self.corrupt = corrupt
        self.generator = torch.Generator().manual_seed(seed)

    def next_batch(self) -> Any:
        windows, _ = self.sampler.next_batch()  # (B, window_length); the shifted targets are not needed
        return self.corrupt(windows, self.generator)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self.generator.set_state(state["generator"])
