"""``lmforge plot`` (overlay runs' loss curves) and ``lmforge tune`` (an optuna study): parsing only."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lmforge.cli.options import PRECISION_HELP


def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (each with a metrics.jsonl).")],
    x: Annotated[str, typer.Option(help="steps | tokens | time (wall-clock seconds).")] = "steps",
    out: Annotated[Path, typer.Option(help="The PNG to write.")] = Path("loss_curves.png"),
) -> None:
    """Overlay the train and validation loss curves of several runs in one PNG."""
    from lmforge.viz.runs import plot_runs

    Console().print(f"wrote {plot_runs(runs, out, x)}")  # type: ignore[arg-type]


def tune(
    study_dir: Annotated[Path, typer.Option(help="Where the study (study.db, SQLite), data and trial runs live; "
                                                 "rerun with the same directory to continue the study.")],
    trials: Annotated[int, typer.Option(help="Completed trials the study should hold (earlier ones count).")] = 10,
    trial_minutes: Annotated[float, typer.Option(help="Time budget of each trial, in minutes.")] = 2.0,
    preset: Annotated[str, typer.Option(help="Model+training preset the trials start from.")] = "gpt-char-quickstart",
    max_steps: Annotated[int | None, typer.Option(help="Also cap each trial's optimizer steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the trials' training and of the sampler.")] = 0,
    precision: Annotated[str | None, typer.Option(help=PRECISION_HELP)] = None,
    eval_interval: Annotated[int, typer.Option(
        help="Evaluate every N steps; each loss goes to optuna's median pruner, which stops trials that fall "
             "behind the earlier ones.")] = 100,
) -> None:
    """Search learning rate, width (d_model) and warm-up on the quickstart setup with optuna; print the best trial."""
    from lmforge.recipes.tune import tune as run_tune

    result = run_tune(study_dir, trials, trial_minutes, preset, max_steps, seed, precision, eval_interval)
    table = Table(title=f"best of {result.completed} trials ({result.pruned} pruned; this run: {result.ran})")
    for column in ("trial", "val loss (nats/token)", *result.best_params):
        table.add_column(column, justify="right")
    params = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in result.best_params.values()]
    table.add_row(str(result.best_number), f"{result.best_value:.4f}", *params)
    console = Console()
    console.print(table)
    console.print("reproduce it with:")
    console.print(result.command, highlight=False, markup=False, soft_wrap=True)
