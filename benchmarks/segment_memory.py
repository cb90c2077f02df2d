"""Transformer-XL-style segment recurrence vs plain windows: what does the memory buy at laptop scale?

    python -m benchmarks.segment_memory [--steps 2000]

Three char-level ALiBi GPTs (4 layers x 128, tinyshakespeare, the quickstart's data), the same number of
steps and 768 tokens per step:

- ``plain-64``: 64-char windows, batch 12;
- ``segments``: 256-char windows read as 4 segments of 64 with a memory of 64 positions
  (``GPTConfig.segment_length`` / ``memory``), batch 3;
- ``plain-256``: 256-char windows with full attention, batch 3.

Reports each run's final validation loss (the Trainer's own random validation windows), and on the first
400 x 256 validation characters the mean loss in each 64-char quarter of a window, read two ways: whole
256-char windows (the segment model with its memory; the plain ones with ALiBi over all 256) and each
64-char piece alone. Quarters 2-4 read whole minus read alone = what the longer context is worth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from benchmarks.lm_families import prepare_char_data
from lmforge.data.shards import open_shards
from lmforge.models.registry import load_model
from lmforge.recipes.train_lm import LMRun, train_lm
from lmforge.train.trainer import TrainConfig

WINDOW, PIECE, EVAL_WINDOWS = 256, 64, 400
TOKENS_PER_STEP = 768  # every run: batch size = TOKENS_PER_STEP // its window
BASE = {"family": "gpt", "d_model": 128, "n_layers": 4, "n_heads": 4, "position": "alibi"}
RUNS: dict[str, dict] = {  # name -> model config
    "plain-64": {**BASE, "context_length": PIECE},
    "segments": {**BASE, "context_length": WINDOW, "segment_length": PIECE, "memory": PIECE},
    "plain-256": {**BASE, "context_length": WINDOW},
}


def validation_windows(data_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``EVAL_WINDOWS`` validation windows of ``WINDOW`` chars: inputs and targets, (N, WINDOW)."""
    val = np.concatenate([np.asarray(shard) for shard in open_shards(data_dir, "val")]).astype(np.int64)
    n = min(EVAL_WINDOWS, (len(val) - 1) // WINDOW)
    return (torch.from_numpy(val[: n * WINDOW].reshape(n, WINDOW)),
            torch.from_numpy(val[1 : n * WINDOW + 1].reshape(n, WINDOW)))


@torch.no_grad()
def quarter_losses(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, alone: bool) -> list[float]:
    """Mean loss (nats/char) in each 64-char quarter of the windows, read whole or (``alone``) as 64-char
    pieces read separately."""
    model.eval()
    losses = []
    for x, y in zip(inputs.split(50), targets.split(50), strict=True):
        logits = torch.cat([model(part) for part in x.split(PIECE, dim=1)], dim=1) if alone else model(x)
        losses.append(F.cross_entropy(logits.transpose(1, 2), y, reduction="none"))  # (B, T)
    per_position = torch.cat(losses)
    return [per_position[:, q * PIECE : (q + 1) * PIECE].mean().item() for q in range(WINDOW // PIECE)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="training steps per model")
    parser.add_argument("--work", type=Path, default=Path("runs/segment_memory"), help="data and run directories")
    args = parser.parse_args()
    print(machine_summary())
    console = Console(stderr=True)
    data_dir = prepare_char_data(args.work)
    inputs, targets = validation_windows(data_dir)
    rows = []
    for name, model_config in RUNS.items():
        console.rule(name)
        train = TrainConfig(max_steps=args.steps, lr=1e-3, min_lr=1e-4, warmup_steps=100, eval_interval=args.steps,
                            checkpoint_interval=10**9, seed=1)
        batch_size = TOKENS_PER_STEP // model_config["context_length"]
        result = train_lm(LMRun(str(data_dir), model_config, train, batch_size, eval_batches=80), args.work / name,
                          console=console)
        model = load_model(args.work / name)
        whole = quarter_losses(model, inputs, targets, alone=False)
        alone = quarter_losses(model, inputs, targets, alone=True)
        rows.append([name, f"{result.val_loss:.3f}", " / ".join(f"{v:.3f}" for v in whole),
                     " / ".join(f"{v:.3f}" for v in alone), f"{result.elapsed_s:.0f}"])
    print(f"\n{args.steps} steps of {TOKENS_PER_STEP} tokens per model; quarters = 64-char quarters of "
          f"{WINDOW}-char validation windows\n")
    print(markdown_table(["model", "final val loss", "quarters, whole window", "quarters, 64-char pieces alone",
                          "train s"], rows))


if __name__ == "__main__":
    main()
