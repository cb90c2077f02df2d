"""Resumable checkpoints: everything needed to continue a run exactly.

    checkpoints/step-000500/
        model.safetensors   weights (safetensors: loading it cannot run code)
        config.json         model config + family
        training_state.pt   optimizer moments, step, data-sampler RNG, torch RNG,
                            elapsed time; read back with weights_only=True
    checkpoints/latest.json which step directory is complete and newest

A checkpoint is written into a temporary directory, renamed into place, and
only then does ``latest.json`` (itself written atomically) point at it. A crash
at any moment leaves the previous checkpoint intact and referenced: a step
directory that exists already is never deleted before ``latest.json`` has
moved on (see :func:`publish_checkpoint`).
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
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    save_model(model, tmp)
    with atomic_write(tmp / STATE_FILE, "wb") as f:
        torch.save(state, f)
    return publish_checkpoint(root, tmp, step, keep)


def publish_checkpoint(root: Path, tmp: Path, step: int, keep: int) -> Path:
    """Rename the complete checkpoint ``tmp`` into place, point ``latest.json`` at it, prune old ones.

    ``latest.json`` only ever names a complete directory. When ``step-NNNNNN`` exists already (a step
    saved again after a resume, or a crash before ``latest.json`` moved), the new one takes the next
    free name ``step-NNNNNN.1`` and the old one is deleted only after ``latest.json`` points at the new.
    """
    base = f"step-{step:06d}"
    final, n = root / base, 0
    while final.exists():
        n += 1
        final = root / f"{base}.{n}"
    tmp.rename(final)
    write_json(root / LATEST, {"step": step, "dir": final.name})
    for old in [root / base, *root.glob(f"{base}.*")]:  # the same step saved before
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
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
