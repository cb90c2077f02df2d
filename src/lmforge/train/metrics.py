"""Machine-readable metrics (JSONL, optionally mirrored to TensorBoard) and a loss-curve picture (PNG)."""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError
from lmforge.io import atomic_write, pyplot, read_json_lines, save_png

TENSORBOARD_DIR = "tensorboard"


class MetricsLog:
    """Appends one JSON object per line. On resume, lines past the resumed step are
    dropped so the file describes exactly the run that continues.

    With ``tensorboard`` (a log directory), every number is also a TensorBoard scalar:
    ``train/loss``, ``train/lr``, ... and ``val/loss``, ``val/bpb`` for ``val_*`` keys.
    On resume, TensorBoard's own ``purge_step`` hides the events past the resumed step.
    """

    def __init__(self, path: Path, resume_step: int | None = None, tensorboard: Path | None = None) -> None:
        self.path = path
        if resume_step is None:
            path.unlink(missing_ok=True)
        elif path.exists():
            kept = [r for r in read_metrics(path) if r["step"] <= resume_step]
            with atomic_write(path) as f:
                f.write("".join(json.dumps(r) + "\n" for r in kept))
        self.writer = None if tensorboard is None else _summary_writer(tensorboard, resume_step)
        if self.writer is not None:
            weakref.finalize(self, self.writer.close)  # flushed on every write; closed when the log goes

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    tag = f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"
                    self.writer.add_scalar(tag, value, record["step"])
            self.writer.flush()

    def records(self) -> list[dict[str, Any]]:
        return read_metrics(self.path) if self.path.exists() else []


def _summary_writer(log_dir: Path, resume_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError("--tensorboard needs the tensorboard package: pip install 'lmforge[scale]'") from None
    return SummaryWriter(str(log_dir), purge_step=None if resume_step is None else resume_step + 1)


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every record of a ``metrics.jsonl``; a damaged line is an error that names it."""
    return [record for _, record in read_json_lines(path)]


def plot_loss(records: list[dict[str, Any]], path: Path, title: str = "loss",
              ylabel: str = "cross-entropy (nats/token)") -> None:
    """Train loss per logged step and validation loss per evaluation."""
    plt = pyplot()

    train = [(r["step"], r["loss"]) for r in records if "loss" in r]
    val = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train, strict=True), label="train", alpha=0.7)
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_png(fig, path)
