"""Overlay training runs' loss curves in one picture (``lmforge plot RUN_DIR...``).

Reads each run's ``metrics.jsonl`` directly (the format is the contract, not the Trainer), so
runs from any command that trains (train, pretrain, finetune, tune) can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lmforge.errors import DataError
from lmforge.io import pyplot, read_json_lines, save_png

XAxis = Literal["steps", "tokens", "time"]
METRICS_FILE = "metrics.jsonl"
_X_KEY = {"steps": "step", "tokens": "tokens", "time": "elapsed_s"}
_X_LABEL = {"steps": "optimizer step", "tokens": "training tokens", "time": "wall-clock seconds"}


def read_run(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of ``run_dir/metrics.jsonl``; a directory without one is an error naming it."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise DataError(f"{run_dir}: not a training run directory (no {METRICS_FILE})")
    records = [r for _, r in read_json_lines(path)]
    if not any("loss" in r for r in records):
        raise DataError(f"{path}: no training loss logged yet")
    return records


def curves(records: list[dict[str, Any]], x: XAxis, where: str) -> tuple[np.ndarray, ...]:
    """(train x, train loss, val x, val loss). Validation rows log only their step; tokens and time
    at an evaluation are interpolated from the training rows around it (extrapolated from the last
    two past the last one: the final evaluation can come a few steps after the last logged row)."""
    train = [r for r in records if "loss" in r]
    key = _X_KEY[x]
    if any(key not in r for r in train):
        raise DataError(f"{where}: the training rows have no {key!r} (logged by newer lmforge); use --x steps")
    steps = np.array([r["step"] for r in train], dtype=np.float64)
    train_x = np.array([r[key] for r in train], dtype=np.float64)
    val = [r for r in records if r.get("val_loss") is not None]
    val_steps = np.array([r["step"] for r in val], dtype=np.float64)
    val_x = val_steps if x == "steps" else np.interp(val_steps, steps, train_x)
    if x != "steps" and len(steps) > 1:
        slope = (train_x[-1] - train_x[-2]) / (steps[-1] - steps[-2])
        beyond = val_steps > steps[-1]
        val_x[beyond] = train_x[-1] + slope * (val_steps[beyond] - steps[-1])
    return train_x, np.array([r["loss"] for r in train]), val_x, np.array([r["val_loss"] for r in val])


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, x: XAxis = "steps") -> Path:
    """Write one PNG with every run's train (line) and validation (dashed, dots) loss against ``x``."""
    if x not in _X_KEY:
        raise DataError(f"--x must be one of {', '.join(_X_KEY)}, got {x!r}")
    if not run_dirs:
        raise DataError("give at least one run directory")
    runs = {str(d): read_run(d) for d in run_dirs}  # every directory checked before anything is drawn
    names = [Path(d).name for d in runs]
    labels = names if len(set(names)) == len(names) else list(runs)

    plt = pyplot()

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for (where, records), label, color in zip(runs.items(), labels, plt.cm.tab10.colors * 10, strict=False):
        train_x, train_y, val_x, val_y = curves(records, x, where)
        ax.plot(train_x, train_y, color=color, alpha=0.6, label=f"{label} train")
        if len(val_x):
            ax.plot(val_x, val_y, "o--", color=color, label=f"{label} val")
    ax.set_xlabel(_X_LABEL[x])
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    out = Path(out)
    save_png(fig, out)
    return out
