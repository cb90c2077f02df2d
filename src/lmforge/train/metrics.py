"""Machine-readable metrics (JSONL) and a loss-curve picture (PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmforge.io import atomic_write, read_text


class MetricsLog:
    """Appends one JSON object per line. On resume, lines past the resumed step are
    dropped so the file describes exactly the run that continues."""

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = path
        if resume_step is None:
            path.unlink(missing_ok=True)
        elif path.exists():
            kept = [line for line in read_text(path).splitlines() if line and json.loads(line)["step"] <= resume_step]
            with atomic_write(path) as f:
                f.write("".join(line + "\n" for line in kept))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in read_text(self.path).splitlines() if line]


def plot_loss(records: list[dict[str, Any]], path: Path, title: str = "loss",
              ylabel: str = "cross-entropy (nats/token)") -> None:
    """Train loss per logged step and validation loss per evaluation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)
