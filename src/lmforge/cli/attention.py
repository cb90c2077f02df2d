"""``lmforge attention TEXT --model DIR -o out.png``: argument parsing only (see :mod:`lmforge.viz.attention`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmforge.errors import ConfigError


def _indices(value: str | None, option: str) -> list[int] | None:
    if not value:
        return None
    try:
        return [int(v) for v in value.split(",")]
    except ValueError:
        raise ConfigError(f"{option} takes comma-separated numbers such as 0,3,5; got {value!r}") from None


def attention(
    text: Annotated[str, typer.Argument(help="The sentence to look at.", show_default=False)],
    model: Annotated[Path, typer.Option(
        "--model", "-m", help="lmforge model directory, HF checkpoint folder (e.g. MiniLM) or .gguf file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("attention.png"),
    layers: Annotated[str | None, typer.Option(help="Layers to show, e.g. 0,5,11 (default: up to 12).")] = None,
    heads: Annotated[str | None, typer.Option(help="Heads to show, e.g. 0,1 (default: up to 12).")] = None,
) -> None:
    """Draw every head's attention pattern for TEXT: a grid of heatmaps, layers x heads, tokens on the axes.

    Example: lmforge attention "The cat sat on the mat." --model runs/bert -o attention.png
    """
    from lmforge.viz.attention import attention_figure

    path = attention_figure(text, model, out, _indices(layers, "--layers"), _indices(heads, "--heads"))
    typer.echo(f"wrote {path}")
