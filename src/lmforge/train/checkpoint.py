"""Resumable checkpoints: everything needed to continue a run exactly.

    checkpoints/step-000500/
        model.safetensors   weights (safetensors: loading it cannot run code)
        config.json         model config + family
        training_state.pt   optimizer moments, step, data-sampler RNG, torch RNG,
                            elapsed time; read back with weights_only=True
    checkpoints/latest.json which step directory is complete and newest

A checkpoint is written into a temporary directory, renamed into place, and
only then does ``latest.json`` (itself written atomically) point at it. A crash
at any moment leaves the previous checkpoint intact and referenced.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import atomic_write, read_json, write_json
from lmforge.models.registry import load_weights, save_model

STATE_FILE = "training_state.pt"
LATEST = "latest.json"


def save_checkpoint(root: Path, step: int, model: nn.Module, state: dict[str, Any], keep: int = 2) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:06d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    save_model(model, tmp)
    with atomic_write(tmp / STATE_FILE, "wb") as f:
        torch.save(state, f)
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    write_json(root / LATEST, {"step": step, "dir": final.name})
    for old in sorted(root.glob("step-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    if not (root / LATEST).is_file():
        return None
    directory = root / read_json(root / LATEST, "checkpoint pointer")["dir"]
    if not directory.is_dir():
        raise ConfigError(f"{root / LATEST} points at {directory.name}, which does not exist")
    return directory


def load_checkpoint(directory: Path, model: nn.Module) -> dict[str, Any]:
    """Load weights into ``model`` and return the training state."""
    load_weights(model, directory / "model.safetensors")
    # weights_only=True: only tensors and plain containers, never arbitrary pickled objects. map_location cpu:
    # a GPU run's checkpoint resumes on any machine (the optimizer moves its state to the parameters' device)
    return torch.load(directory / STATE_FILE, weights_only=True, map_location="cpu")
