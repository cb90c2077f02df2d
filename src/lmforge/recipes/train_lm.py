"""Train a language model on a prepared data directory (``lmforge train``).

Glue between the pieces: preset -> model config, data shards -> batch samplers,
then the :class:`Trainer`. A ``run.json`` in the output directory records the
choices so ``--resume`` needs nothing but the directory.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from lmforge.data.sampler import RandomWindowSampler, check_data_order, window_sampler
from lmforge.data.shards import load_meta, open_shards
from lmforge.errors import ConfigError
from lmforge.io import read_json, write_json
from lmforge.models.config import config_from_dict
from lmforge.models.registry import build_model
from lmforge.seeding import seed_everything
from lmforge.tokenizers.base import TOKENIZER_FILE
from lmforge.train.checkpoint import latest_checkpoint
from lmforge.train.distributed import (
    Distributed,
    check_global_batch,
    consolidate,
    launch_world_size,
    setup_distributed,
)
from lmforge.train.trainer import TrainConfig, Trainer, TrainResult, lr_schedule_for

RUN_FILE = "run.json"
VAL_SEED = 1234  # validation windows are the same at every evaluation, so losses are comparable


@dataclass
class LMRun:
    data_dir: str
    model: dict[str, Any]  # config.json-style dict: {"family": ..., fields...}
    train: TrainConfig = field(default_factory=TrainConfig)
    batch_size: int = 12
    eval_batches: int = 20
    data_order: str = "random"  # data.sampler.DATA_ORDERS: random windows, or each epoch's windows once

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LMRun:
        return cls(**{**raw, "train": TrainConfig(**raw["train"])})


def run_from_preset(preset: dict[str, Any], data_dir: str | Path, overrides: dict[str, Any],
                    arch: str | None = None) -> LMRun:
    """Merge a preset with command-line overrides (``None`` values mean "not given").

    ``arch`` names a model family; unless it is the preset's own, the model is that
    family's config defaults and the preset contributes only the training settings.
    The LR schedule follows time only when no ``max_steps`` override was given and the
    run has a time budget (a preset's ``max_steps`` is no one's choice for this machine); such a
    run drops the preset's ``max_steps`` and trains until the budget is spent, so a faster CPU
    buys more steps instead of stopping early.
    """
    model = dict(preset["model"])
    if arch is not None and arch != model.get("family"):
        model = {"family": arch}
    train = dict(preset["train"])
    run_fields = {"batch_size": preset.get("batch_size", 12), "eval_batches": preset.get("eval_batches", 20),
                  "data_order": preset.get("data_order", "random")}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in run_fields:
            run_fields[key] = value
        elif key in train_fields:
            train[key] = value
        else:
            model[key] = value
    train["schedule"] = lr_schedule_for(train.get("max_minutes"), overrides.get("max_steps"))
    if train["schedule"] == "time":
        train["max_steps"] = None
    # type-checked and validated here, before anything is written: `--set lr=abc` arrives as the text "abc"
    train_config = config_from_dict(TrainConfig, train, "preset 'train' section (or --set)")
    check_data_order(run_fields["data_order"])  # before anything is written
    return LMRun(str(data_dir), model, train_config, **run_fields)


def train_lm(run: LMRun, out_dir: str | Path, resume: bool = False, console: Console | None = None,
             strategy: str = "auto", device: torch.device | None = None,
             on_eval: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train ``run`` into ``out_dir`` on ``device`` (None: CPU); under ``torchrun`` as one rank of a DDP/FSDP
    job (see train.distributed), where a CUDA device means this rank's GPU, ``LOCAL_RANK``."""
    check_global_batch(run.batch_size, launch_world_size())  # before the process group, before anything is written
    dist = setup_distributed(strategy, device)
    try:
        return _train_lm(run, Path(out_dir), resume, console, dist, dist.device if dist.active else device, on_eval)
    finally:
        dist.close()


def _train_lm(run: LMRun, out_dir: Path, resume: bool, console: Console | None, dist: Distributed,
              device: torch.device | None, on_eval: Callable[[int, float], None] | None = None) -> TrainResult:
    meta = load_meta(run.data_dir)
    model_config = {**run.model, "vocab_size": meta.vocab_size}
    seed_everything(run.train.seed)  # the initial weights are the run's first random draw
    model = build_model(model_config, source="model config")
    block = model.context_length
    train = window_sampler(run.data_order, open_shards(run.data_dir, "train"), block, run.batch_size,
                           seed=run.train.seed, rank=dist.rank, world_size=dist.world_size)
    val_shards = open_shards(run.data_dir, "val")

    def val_batches():
        sampler = RandomWindowSampler(val_shards, block, run.batch_size, seed=VAL_SEED)
        return (sampler.next_batch() for _ in range(run.eval_batches))

    out_dir.mkdir(parents=True, exist_ok=True)
    if dist.is_main:
        write_json(out_dir / RUN_FILE, run.to_json())
        shutil.copyfile(Path(run.data_dir) / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    trainer = Trainer(model, run.train, train, out_dir, val_batches,
                      tokens_per_byte=meta.val_tokens_per_byte, console=console, dist=dist, device=device,
                      on_eval=on_eval)
    return trainer.fit(resume=resume)


def resume_lm(out_dir: str | Path, console: Console | None = None, strategy: str = "auto",
              device: torch.device | None = None) -> TrainResult:
    """Continue the run in ``out_dir`` from its latest checkpoint, with its recorded settings."""
    out_dir = Path(out_dir)
    if not (out_dir / RUN_FILE).is_file() or latest_checkpoint(out_dir / "checkpoints") is None:
        raise ConfigError(f"{out_dir}: nothing to resume (needs {RUN_FILE} and a checkpoint from an earlier run)")
    run = LMRun.from_json(read_json(out_dir / RUN_FILE, "run settings"))
    return train_lm(run, out_dir, resume=True, console=console, strategy=strategy, device=device)


def consolidate_run(path: str | Path, out_dir: str | Path | None = None) -> Path:
    """A whole model from a sharded checkpoint: ``path`` is a run (its latest checkpoint) or a checkpoint folder.

    The model goes to ``out_dir``, by default the run directory (a checkpoint folder: itself), which then
    holds ``model.safetensors`` + ``config.json`` like any run that every other command reads.
    """
    path = Path(path)
    checkpoint = latest_checkpoint(path / "checkpoints") if (path / "checkpoints").is_dir() else path
    if checkpoint is None:
        raise ConfigError(f"{path / 'checkpoints'}: no checkpoint to consolidate")
    return consolidate(checkpoint, Path(out_dir) if out_dir is not None else path)
