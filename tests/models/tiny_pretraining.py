"""A tiny pretraining run on the bundled text through the one Trainer, for the family tests of this folder:
the validation loss before and after (pytest puts this folder on the path)."""

from collections.abc import Callable
from pathlib import Path

from torch import nn

from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import open_shards
from lmforge.objectives.batches import CorruptedWindows, Corruption
from lmforge.train.trainer import TrainConfig, Trainer


def val_loss_before_after(model: nn.Module, data_dir: Path, out_dir: Path, corrupt: Corruption | None,
                          loss_fn: Callable, window: int, steps: int = 40, batch_size: int = 8,
                          lr: float = 3e-3) -> tuple[float, float]:
    """Train ``model`` for ``steps`` (seeded, fp32) on windows, corrupted by ``corrupt`` (None: plain
    next-token windows); the mean validation loss before and after."""
    def batches(split: str, seed: int):
        shards = open_shards(data_dir, split)
        if corrupt is None:
            return RandomWindowSampler(shards, window, batch_size, seed=seed)
        return CorruptedWindows(shards, window, batch_size, corrupt, seed=seed)

    def val_batches():
        source = batches("val", 1234)
        return (source.next_batch() for _ in range(4))

    config = TrainConfig(max_steps=steps, lr=lr, min_lr=lr / 10, warmup_steps=5, eval_interval=steps,
                         log_interval=steps, checkpoint_interval=10 * steps, precision="fp32", seed=0)
    trainer = Trainer(model, config, batches("train", 0), out_dir, val_batches, loss_fn=loss_fn)
    before = trainer.evaluate()[0]
    return before, trainer.fit().val_loss
