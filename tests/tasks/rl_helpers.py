"""Helpers shared by the reward-model and RL tests: rewinding a finished run to an earlier checkpoint (as if
it had died right after writing it) and reading the logged training losses."""

from __future__ import annotations

import json
from pathlib import Path

from lmforge.io import write_json


def rewind_to_checkpoint(run_dir: Path, step: int) -> None:
    """Point ``checkpoints/latest.json`` at ``step-<step>`` (kept by keep_checkpoints=2); ``--resume`` starts there."""
    name = f"step-{step:06d}"
    assert (run_dir / "checkpoints" / name).is_dir(), f"no checkpoint {name} in {run_dir}"
    write_json(run_dir / "checkpoints" / "latest.json", {"step": step, "dir": name})


def logged_losses(run_dir: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
