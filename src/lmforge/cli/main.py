"""The ``lmforge`` command: argument parsing only; every command calls library code.

Each area of the roadmap contributes one sub-command module in this folder and
is registered below. User mistakes raise :class:`lmforge.errors.LmforgeError`,
which is printed as one clear line (no traceback) with exit status 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from lmforge.errors import LmforgeError

app = typer.Typer(
    name="lmforge",
    help="Learn LLMs from scratch and use what you build. Start with `lmforge quickstart`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    """Attach every area's commands (imported lazily here so `--help` stays fast)."""
    from lmforge.cli import generate, models, pipeline, tokenizer

    app.command()(pipeline.quickstart)
    app.add_typer(tokenizer.app, name="tokenizer", help="Train tokenizers and encode/decode text.")
    app.command()(pipeline.prepare)
    app.command()(pipeline.train)
    app.command()(generate.sample)
    app.command()(generate.chat)
    app.command()(models.info)
    app.command()(models.export)


def main() -> None:
    _register()
    try:
        app()
    except LmforgeError as e:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        sys.exit(130)


if __name__ == "__main__":
    main()
