"""The fine-tuning settings every task shares, and the call into the one Trainer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from lmforge.train.trainer import BatchSource, LossFn, TrainConfig, Trainer, TrainResult, lr_schedule_for


@dataclass
class FinetuneConfig:
    epochs: float = 2.0
    batch_size: int = 16
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    dropout: float = 0.1
    max_minutes: float | None = None  # time budget; without max_steps the schedule ends with it
    max_steps: int | None = None  # overrides epochs
    seed: int = 0
    precision: str = "fp32"
    checkpoint_every: int | None = None  # keep every N-th step's checkpoint (a learning curve); default: the last
    tensorboard: bool = False  # also log the metrics as TensorBoard scalars
    device: torch.device | None = None  # where the Trainer moves model and batches (None: where the model is)


def run_trainer(model: nn.Module, batches: BatchSource, loss_fn: LossFn, out_dir: str | Path,
                config: FinetuneConfig, steps: int, console: Console | None = None,
                val_batches: Any = None) -> TrainResult:
    """Fine-tune with warm-up then cosine decay to a tenth of ``lr``; one checkpoint at the end."""
    steps = config.max_steps or steps
    train_config = TrainConfig(
        max_steps=steps, lr=config.lr, min_lr=config.lr / 10, warmup_steps=max(1, int(config.warmup_fraction * steps)),
        weight_decay=config.weight_decay, beta2=0.999, eval_interval=max(steps, 1), log_interval=10,
        checkpoint_interval=config.checkpoint_every or steps, keep_checkpoints=0 if config.checkpoint_every else 1,
        max_minutes=config.max_minutes,
        schedule=lr_schedule_for(config.max_minutes, config.max_steps),
        precision=config.precision, seed=config.seed, tensorboard=config.tensorboard,  # type: ignore[arg-type]
    )
    return Trainer(model, train_config, batches, out_dir, val_batches=val_batches, loss_fn=loss_fn,
                   console=console, device=config.device).fit()
