"""``lmforge report``: a model's report card, or two side by side (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    model_dir: Annotated[Path | None, typer.Argument(help="Model dir (language or fine-tuned task model).")] = None,
    tasks: Annotated[list[str] | None, typer.Option("--tasks", help="Task to score, repeatable: choice=ITEMS.jsonl "
                                                    "(language model) or task=DATA (fine-tuned task dir).")] = None,
    text: Annotated[Path | None, typer.Option(help="Held-out text for perplexity; default: the last 10% of the "
                                              "bundled tinyshakespeare.")] = None,
    max_chars: Annotated[int, typer.Option(help="Characters of the held-out text scored.")] = 20_000,
    references: Annotated[Path | None, typer.Option(help='Reference figures: JSON {"metric": {"value": v, '
                                                    '"source": "..."}} shown beside the scores.')] = None,
    context: Annotated[int, typer.Option(help="Perplexity window in tokens (at most the model's).")] = 512,
    stride: Annotated[int, typer.Option(help="Tokens between perplexity windows.")] = 256,
    compare: Annotated[tuple[Path, Path] | None, typer.Option(help="Two model dirs side by side (a card already "
                                                              "written is reused when its settings and weights are "
                                                              "unchanged).")] = None,
    out: Annotated[Path | None, typer.Option(help="Where to write: default MODEL_DIR (report.md, report.png, "
                                             "report.json); with --compare, compare.md (+ .png).")] = None,
) -> None:
    """Report card: size, speed, perplexity and bits per byte on held-out text, task scores next to reference
    figures with their sources; markdown + PNG written into the model directory."""
    from lmforge.errors import ConfigError
    from lmforge.recipes.report import build_card, load_or_build_card, write_card, write_comparison

    settings = {"text": text, "max_chars": max_chars, "tasks": tasks, "references": references, "context": context,
                "stride": stride}
    if compare is not None:
        if model_dir is not None:
            raise ConfigError("give either MODEL_DIR or --compare A B, not both")
        a, b = (load_or_build_card(d, **settings) for d in compare)
        typer.echo(f"comparison written to {write_comparison(a, b, out or Path('compare.md'))}")
        return
    if model_dir is None:
        raise ConfigError("give a MODEL_DIR (or --compare A B)")
    path = write_card(build_card(model_dir, **settings), out or model_dir)
    typer.echo(path.read_text(encoding="utf-8"))
    typer.echo(f"report card written to {path}")
