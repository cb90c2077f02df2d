"""``lmforge roadmap`` and ``lmforge lab``: argument parsing only (see :mod:`lmforge.labs.registry`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmforge.errors import ConfigError


def roadmap() -> None:
    """The learning roadmap in order: each phase with its labs, the library modules it teaches and its docs page.

    Example: lmforge roadmap
    """
    from lmforge.labs.registry import roadmap_lines

    typer.echo("\n".join(roadmap_lines()))


def lab(
    lab_id: Annotated[str | None, typer.Argument(
        metavar="ID", help="The lab to run (see --list).", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="List every lab and exit.")] = False,
    budget_minutes: Annotated[float | None, typer.Option(
        help="Time budget for the lab's training loops (default: the lab's own, <= 10).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: runs/labs/ID).")] = None,
    notebook: Annotated[bool, typer.Option(
        help="Write the lab as a Jupyter notebook (OUT/ID.ipynb) instead of running it.")] = False,
    smoke: Annotated[bool, typer.Option(
        help="Tiny data and budget: checks that the lab runs, not its result.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run one lab of the roadmap: it prints its measured result beside a cited reference and writes its plots.

    Example: lmforge lab text-tokenizers --budget-minutes 2
    """
    from lmforge.labs.registry import list_lines, run_lab

    if list_:
        typer.echo("\n".join(list_lines()))
        return
    if lab_id is None:
        raise ConfigError("lmforge lab: give a lab ID or --list (see 'lmforge roadmap')")
    if notebook:
        from lmforge.labs.notebook import write_notebook

        path = write_notebook(lab_id, out or Path("notebooks"), budget_minutes=budget_minutes, smoke=smoke,
                              seed=seed)
        typer.echo(f"wrote {path}")
        return
    run_lab(lab_id, out_dir=out, budget_minutes=budget_minutes, smoke=smoke, seed=seed)
