"""``lmforge eval ...``: score prediction files with the task metrics (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Score prediction files: SQuAD EM/F1, NER entity F1, ROUGE, BLEU.", no_args_is_help=True)


@app.command()
def squad(
    dataset: Annotated[Path, typer.Argument(help="SQuAD v1.1 json with the gold answers.")],
    predictions: Annotated[Path, typer.Argument(help='JSON {"question id": "answer text"}.')],
) -> None:
    """Exact match and F1 as the official SQuAD v1.1 script computes them."""
    from lmforge.evaluate.files import score_squad

    s = score_squad(dataset, predictions)
    typer.echo(f"exact match {s['exact_match']:.2f}  F1 {s['f1']:.2f}")


@app.command()
def ner(
    gold: Annotated[Path, typer.Argument(help="CoNLL file with the gold tags.")],
    predicted: Annotated[Path, typer.Argument(help="CoNLL file with the same tokens and predicted tags.")],
) -> None:
    """Entity-level precision / recall / F1 per type (seqeval's default rules)."""
    from lmforge.evaluate.files import score_ner

    typer.echo(score_ner(gold, predicted).table())


@app.command()
def rouge(
    references: Annotated[Path, typer.Argument(help="One reference summary per line.")],
    predictions: Annotated[Path, typer.Argument(help="One predicted summary per line.")],
    stem: Annotated[bool, typer.Option(help="Porter-stem words longer than 3 letters.")] = False,
) -> None:
    """Mean ROUGE-1/2/L F-measure in percent (rouge-score's definition)."""
    from lmforge.evaluate.files import score_rouge

    typer.echo("  ".join(f"{k} {v:.2f}" for k, v in score_rouge(references, predictions, stem).items()))


@app.command()
def bleu(
    references: Annotated[Path, typer.Argument(help="One reference translation per line.")],
    predictions: Annotated[Path, typer.Argument(help="One translation per line.")],
) -> None:
    """Corpus BLEU and chrF (sacreBLEU)."""
    from lmforge.evaluate.files import score_bleu

    s = score_bleu(references, predictions)
    typer.echo(f"BLEU {s['bleu']:.2f}  chrF {s['chrf']:.2f}  ({s['signature']})")
