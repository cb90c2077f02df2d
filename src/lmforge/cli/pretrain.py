"""``lmforge pretrain --objective clm|mlm|span|electra|roberta|unilm|deberta|plm`` (parsing; see recipes.pretrain)."""

from __future__ import annotations

from enum import StrEnum
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
    TENSORBOARD,
    max_minutes_help,
)


class Objective(StrEnum):
    clm = "clm"
    mlm = "mlm"
    span = "span"
    electra = "electra"
    roberta = "roberta"
    unilm = "unilm"
    deberta = "deberta"
    plm = "plm"


def pretrain(
    out: Annotated[Path, typer.Option(help="Run directory: model, metrics.jsonl, loss.png, pretrain.json.")],
    objective: Annotated[Objective, typer.Option(
        help="clm: GPT next-token; mlm: BERT masked LM + next-sentence; span: T5 span corruption; "
             "electra: replaced-token detection; roberta: masked LM on full text (no NSP), byte-level BPE; "
             "unilm: one encoder, bidirectional + left-to-right + seq2seq masked LM at once; "
             "deberta: masked LM with disentangled relative-position attention; "
             "plm: XLNet permutation LM (two-stream attention, random factorization orders).")
    ] = Objective.clm,
    data: Annotated[Path | None, typer.Option(
        help="Prepared data directory (`lmforge prepare`); default: bundled tinyshakespeare, char-level "
             "(roberta: byte-level BPE).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its latest checkpoint.")] = False,
    n_layers: Annotated[int | None, typer.Option(help="Transformer blocks.")] = None,
    d_model: Annotated[int | None, typer.Option(help="Model width.")] = None,
    n_heads: Annotated[int | None, typer.Option(help="Attention heads.")] = None,
    context_length: Annotated[int | None, typer.Option(help="Tokens per training example.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Examples per batch.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps (default 300).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help=max_minutes_help())] = None,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    device: DEVICE = "auto",
    grad_checkpoint: GRAD_CHECKPOINT = None,
    optimizer: OPTIMIZER = None,
    lr_schedule: LR_SCHEDULE = None,
    decay_fraction: DECAY_FRACTION = None,
    tensorboard: TENSORBOARD = False,
) -> None:
    """Pretrain a small Transformer with one of the classic objectives, using the one Trainer.

    Example: lmforge pretrain --objective mlm --out runs/bert-tiny --max-steps 300
    """
    from lmforge.devices import resolve_device
    from lmforge.recipes.pretrain import pretrain as run_pretrain

    run_device = resolve_device(device)  # a missing device is refused before anything is written
    overrides = dict(n_layers=n_layers, d_model=d_model, n_heads=n_heads, context_length=context_length,
                     batch_size=batch_size, max_steps=max_steps, lr=lr, max_minutes=max_minutes, precision=precision,
                     seed=seed, grad_checkpoint=grad_checkpoint, optimizer=optimizer and optimizer.value,
                     lr_schedule=lr_schedule and lr_schedule.value,
                     decay_fraction=decay_fraction, tensorboard=tensorboard or None)
    result = run_pretrain(objective.value, out, data, overrides, resume=resume, device=run_device)
    Console().print(f"{objective.value}: {result.steps} steps, final val loss {result.val_loss:.4f} "
                    f"({result.elapsed_s:.0f} s); model in {out}")
