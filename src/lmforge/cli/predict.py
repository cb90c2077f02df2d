"""``lmforge predict``: use a fine-tuned model on new text (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmforge.cli.options import DEVICE


def predict(
    model_dir: Annotated[Path, typer.Argument(help="A `lmforge finetune classify|ner|qa` dir, or a chat model dir "
                                              "(summaries).")],
    text: Annotated[str | None, typer.Argument(help="The text (QA: the question; summaries: the document).")] = None,
    file: Annotated[Path | None, typer.Option(help="JSONL inputs, one per line: 'text' (classify, NER), "
                                              "'question' + 'context' (QA) or 'document' (summaries).")] = None,
    context: Annotated[str | None, typer.Option(help="QA: the passage the answer is taken from.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write the JSONL results here instead of printing them.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Summaries: longest summary in tokens.")] = 64,
    device: DEVICE = "auto",
) -> None:
    """Predict with a fine-tuned model: label + probabilities (classify), entities with character spans (NER),
    the answer span (QA, with --context), or a summary (a chat model). Prints one JSON object per input."""
    import json

    from lmforge.devices import resolve_device
    from lmforge.io import atomic_write
    from lmforge.recipes.predict import run_predict

    run_device = resolve_device(device)
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in run_predict(model_dir, text, file, context,
                                                                           max_new_tokens, run_device)]
    if out is None:
        typer.echo("".join(lines), nl=False)
        return
    with atomic_write(out) as f:
        f.writelines(lines)
    typer.echo(f"{len(lines)} predictions written to {out}")
