"""``lmforge quickstart | prepare | train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmforge.cli.options import (
    DECAY_FRACTION,
    DEVICE,
    GRAD_CHECKPOINT,
    LR_SCHEDULE,
    OPTIMIZER,
    PRECISION_HELP,
    SET,
    TENSORBOARD,
    max_minutes_help,
    parse_settings,
)
from lmforge.presets import available_presets, load_preset

QUICKSTART_DIR = Path("runs/quickstart")
PRESETS_HELP = f"Model+training preset: one of {', '.join(available_presets())}, or a JSON file of the same shape."
BATCH_HELP = ("Windows per micro-batch, for the whole job: under torchrun each of N processes takes "
              "batch-size/N of them (N must divide it), so batch-size x grad-accum-steps windows make one "
              "optimizer step on 1 or N processes alike and a run moves between machines without retuning.")
STRATEGY_HELP = ("Under torchrun: auto | ddp | fsdp. ddp (auto's choice with 2+ processes): each process holds the "
                 "whole model. fsdp: parameters, gradients and optimizer state sharded over the processes, with "
                 "sharded checkpoints (`lmforge consolidate` makes a model.safetensors of one).")
ARCH_HELP = ("Model family: bigram, mlp, rnn, lstm, gru or gpt (default: the preset's). Another family than the "
             "preset's uses that family's default size and only the preset's training settings.")


def quickstart(
    out: Annotated[Path, typer.Option(help="Where the run (model, tokenizer, data, metrics) goes.")] = QUICKSTART_DIR,
    tokenizer: Annotated[str, typer.Option(help="char (nats/char) or bpe (byte-level BPE, 4,096 tokens).")] = "char",
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size (ignored for char).")] = 4096,
    max_minutes: Annotated[float | None, typer.Option(help=max_minutes_help(default="Default 8."))] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    preset: Annotated[str | None, typer.Option(help=PRESETS_HELP)] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    resume: Annotated[bool, typer.Option(help="Continue an interrupted quickstart in --out.")] = False,
    device: DEVICE = "auto",
    set_: SET = None,
) -> None:
    """Train a tokenizer and a small GPT on the bundled Shakespeare in minutes on a CPU, then sample from it."""
    from lmforge.devices import resolve_device
    from lmforge.recipes.quickstart import quickstart as run_quickstart

    if tokenizer not in ("char", "bpe"):
        raise typer.BadParameter("must be 'char' or 'bpe'", param_hint="--tokenizer")
    run_device = resolve_device(device)  # a missing device is refused before anything is written
    named = {"max_minutes": max_minutes, "max_steps": max_steps, "precision": precision}
    overrides = {**parse_settings(set_), **{k: v for k, v in named.items() if v is not None}}
    run_quickstart(out, tokenizer, vocab_size, preset, overrides, resume=resume,  # type: ignore[arg-type]
                   device=run_device)


def prepare(
    files: Annotated[list[Path], typer.Argument(
        help="Text (.txt/.md: one document each), JSONL or parquet files (one document per record), or folders "
             "of them.")],
    tokenizer: Annotated[Path, typer.Option(help="tokenizer.json (or a folder holding one).")],
    out: Annotated[Path, typer.Option(help="Output data directory (shards + meta.json).")],
    val_fraction: Annotated[float, typer.Option(help="Fraction of tokens (the end of the corpus) held out.")] = 0.1,
    field: Annotated[str, typer.Option(help="JSONL: the key holding each record's text.")] = "text",
    column: Annotated[str, typer.Option(help="Parquet: the column holding each row's text.")] = "text",
    workers: Annotated[int, typer.Option(help="Processes tokenizing files in parallel (same output for any).")] = 1,
    shard_tokens: Annotated[int | None, typer.Option(help="Tokens per shard file (default 100,000,000).")] = None,
    skip_bad: Annotated[bool, typer.Option(
        help="Skip JSONL lines / parquet rows without a text (and count them) instead of stopping.")] = False,
) -> None:
    """Tokenize files into train/val token shards for `lmforge train`, streaming: rerun after a kill to resume."""
    from lmforge.data.shards import DEFAULT_SHARD_TOKENS
    from lmforge.data.stream import StreamOptions, prepare_stream
    from lmforge.tokenizers.hf_json import resolve_json_path

    options = StreamOptions(field=field, column=column, skip_bad=skip_bad)
    result = prepare_stream(files, resolve_json_path(tokenizer), out, val_fraction,
                            DEFAULT_SHARD_TOKENS if shard_tokens is None else shard_tokens, workers, options)
    meta = result.meta
    Console().print(f"{meta.train.tokens:,} train and {meta.val.tokens:,} val tokens ({meta.dtype}) from "
                    f"{result.files} files in {out}" + (f"; skipped {result.skipped} bad records" if result.skipped
                                                       else ""))


def train(
    out: Annotated[Path, typer.Option(help="Run directory: checkpoints, metrics.jsonl, loss.png, final model.")],
    data: Annotated[Path | None, typer.Option(help="Prepared data directory (from `lmforge prepare`).")] = None,
    preset: Annotated[str, typer.Option(help=PRESETS_HELP)] = "gpt-char-quickstart",
    arch: Annotated[str | None, typer.Option(help=ARCH_HELP)] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its latest checkpoint.")] = False,
    n_layers: Annotated[int | None, typer.Option(help="Transformer blocks.")] = None,
    d_model: Annotated[int | None, typer.Option(help="Model width.")] = None,
    n_heads: Annotated[int | None, typer.Option(help="Attention heads.")] = None,
    context_length: Annotated[int | None, typer.Option(help="Tokens per training window / max context.")] = None,
    dropout: Annotated[float | None, typer.Option(help="Dropout probability.")] = None,
    position: Annotated[str | None, typer.Option(help="GPT positions: learned | sinusoidal | alibi.")] = None,
    segment_length: Annotated[int | None, typer.Option(
        help="GPT with alibi: read each window in segments of this many tokens, Transformer-XL style.")] = None,
    memory: Annotated[int | None, typer.Option(
        help="With --segment-length: earlier positions each segment also attends to (default: one segment).")] = None,
    batch_size: Annotated[int | None, typer.Option(help=BATCH_HELP)] = None,
    grad_accum_steps: Annotated[int | None, typer.Option(help="Micro-batches per optimizer step.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps.")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    warmup_steps: Annotated[int | None, typer.Option(help="Steps of linear LR warm-up.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help=max_minutes_help())] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    compile: Annotated[bool | None, typer.Option(help="torch.compile the model (~40 s warm-up, ~10% faster).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    tensorboard: TENSORBOARD = False,
    strategy: Annotated[str, typer.Option(help=STRATEGY_HELP)] = "auto",
    device: DEVICE = "auto",
    grad_checkpoint: GRAD_CHECKPOINT = None,
    optimizer: OPTIMIZER = None,
    lr_schedule: LR_SCHEDULE = None,
    decay_fraction: DECAY_FRACTION = None,
    set_: SET = None,
) -> None:
    """Train a language model; Ctrl-C or a crash loses at most one checkpoint interval (use --resume).

    Several processes: torchrun --nproc_per_node=N -m lmforge train ... (docs/distributed.md).
    """
    from lmforge.devices import resolve_device
    from lmforge.errors import ConfigError
    from lmforge.recipes.train_lm import resume_lm, run_from_preset, train_lm
    from lmforge.train.distributed import launch_rank

    run_device = resolve_device(device)  # a missing device is refused before anything is written
    if resume:
        result = resume_lm(out, strategy=strategy, device=run_device)
    else:
        if data is None:
            raise ConfigError("--data is required (a directory made by `lmforge prepare`), unless --resume")
        overrides = dict(n_layers=n_layers, d_model=d_model, n_heads=n_heads, context_length=context_length,
                         dropout=dropout, position=position, segment_length=segment_length, memory=memory,
                         batch_size=batch_size, grad_accum_steps=grad_accum_steps,
                         max_steps=max_steps, lr=lr, warmup_steps=warmup_steps, max_minutes=max_minutes,
                         precision=precision, compile=compile, seed=seed, tensorboard=tensorboard or None,
                         grad_checkpoint=grad_checkpoint, optimizer=optimizer and optimizer.value,
                         lr_schedule=lr_schedule and lr_schedule.value, decay_fraction=decay_fraction)
        overrides = {**parse_settings(set_), **{k: v for k, v in overrides.items() if v is not None}}
        result = train_lm(run_from_preset(load_preset(preset), data, overrides, arch), out, strategy=strategy,
                          device=run_device)
    if launch_rank() != 0:  # under torchrun, one report for the whole job
        return
    if result.stop_reason == "interrupted":
        Console().print(f"stopped at step {result.steps}; continue with: lmforge train --out {out} --resume")
    Console().print(f"val loss {result.val_loss:.4f} nats/token"
                    + (f" · {result.val_bpb:.4f} bits/byte" if result.val_bpb else "")
                    + f" after {result.steps} steps; model in {out}")


def consolidate(
    checkpoint: Annotated[Path, typer.Argument(help="A run directory (its latest checkpoint) or a checkpoint folder.")],
    out: Annotated[Path | None, typer.Option(help="Output folder (default: the run).")] = None,
) -> None:
    """One model.safetensors from a sharded (--strategy fsdp) checkpoint, so sample, export and eval accept it."""
    from lmforge.recipes.train_lm import consolidate_run

    written = consolidate_run(checkpoint, out)
    Console().print(f"model.safetensors and config.json in {written}")
