"""One place that seeds (and saves/restores) every random number generator a run draws from.

A run is repeatable only if the seed reaches every draw: the initial weights (drawn
when the model is built, before any training loop starts), dropout, data order and
any Python- or NumPy-level shuffling. Run builders call :func:`seed_everything`
before they build the model; code that must draw without disturbing a run (timing
steps, for instance) brackets itself with :func:`rng_states` / :func:`set_rng_states`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed torch, Python's ``random`` and NumPy's global generator with ``seed``."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def rng_states() -> dict[str, Any]:
    """The state of every global generator :func:`seed_everything` seeds."""
    return {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}


def set_rng_states(states: dict[str, Any]) -> None:
    """Put back what :func:`rng_states` returned."""
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
