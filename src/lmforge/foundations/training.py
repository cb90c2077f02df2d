"""Training the foundations' networks with the project's one Trainer, and measuring them.

Every network here (the CNNs, the autoencoder, the Siamese encoder) trains the same way a language
model does: a batch source, a loss function ``loss_fn(model, batch)`` and :class:`~lmforge.train.trainer.Trainer`,
which adds warmup + cosine learning rate, gradient clipping, AdamW, metrics, a loss plot and a saved model.
Only the GAN does not fit (two networks, two optimizers, alternating steps: see :mod:`lmforge.foundations.gan`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.train.trainer import BatchSource, LossFn, TrainConfig, Trainer, TrainResult


def fit(model: nn.Module, batches: BatchSource, loss_fn: LossFn, out_dir: str | Path, steps: int,
        lr: float = 3e-3, weight_decay: float = 0.01, max_minutes: float | None = None, seed: int = 0,
        console: Console | None = None, loss_label: str = "cross-entropy (nats)") -> TrainResult:
    """``steps`` AdamW steps in fp32 (a stop at ``max_minutes`` if given, the LR still following steps)."""
    config = TrainConfig(max_steps=steps, lr=lr, min_lr=lr / 10, warmup_steps=max(1, steps // 20),
                         weight_decay=weight_decay, eval_interval=steps + 1, checkpoint_interval=steps + 1,
                         log_interval=max(1, steps // 50), max_minutes=max_minutes, schedule="steps",
                         precision="fp32", seed=seed)
    trainer = Trainer(model, config, batches, out_dir, loss_fn=loss_fn, console=console or Console(stderr=True),
                      loss_label=loss_label)
    return trainer.fit()


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of ``model(inputs)`` (B, C) against class ids (B,)."""
    inputs, labels = batch
    return F.cross_entropy(model(inputs), labels)


@torch.no_grad()
def accuracy(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Share of rows whose arg-max logit is the label (eval mode: no dropout)."""
    was_training = model.training
    model.eval()
    correct = sum(int((model(inputs[i : i + batch_size]).argmax(-1) == labels[i : i + batch_size]).sum())
                  for i in range(0, len(inputs), batch_size))
    model.train(was_training)
    return correct / len(inputs)
