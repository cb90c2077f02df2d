"""``lmforge eval ...``: score a model directory on data (perplexity, ...) or prediction files with the
task metrics (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmforge.cli.options import DEVICE

app = typer.Typer(help="Evaluate: perplexity of a model directory; SQuAD EM/F1, NER entity F1, ROUGE, BLEU.",
                  no_args_is_help=True)


@app.command()
def perplexity(
    model_dir: Annotated[Path, typer.Argument(help="lmforge model dir of a decoder-only LM (with tokenizer.json).")],
    data: Annotated[Path, typer.Option("--data", "-d", help="UTF-8 text file to score (held-out text).")],
    stride: Annotated[int | None, typer.Option(help="Tokens between window starts; default half the window. "
                                               "Smaller: more context per token, more forward passes.")] = None,
    context: Annotated[int | None, typer.Option(help="Window in tokens; default (and at most) the model's.")] = None,
    batch_size: Annotated[int, typer.Option(help="Windows per forward pass.")] = 4,
    device: DEVICE = "auto",
) -> None:
    """Sliding-window perplexity: nats/token (tokenizer-dependent) and bits per byte (comparable across
    tokenizers). Every token but the first is scored once, with at least window - stride tokens of context."""
    from lmforge.devices import resolve_device
    from lmforge.recipes.evaluate import run_perplexity

    r = run_perplexity(model_dir, data, stride, context, batch_size, resolve_device(device))
    typer.echo(f"{r.nats_per_token:.4f} nats/token  perplexity {r.perplexity:.2f}  {r.bits_per_byte:.4f} bits/byte  "
               f"({r.n_tokens:,} tokens, {r.n_bytes:,} bytes)")


@app.command()
def choice(
    model_dir: Annotated[Path, typer.Argument(help="lmforge model dir of a decoder-only LM (with tokenizer.json).")],
    data: Annotated[Path, typer.Option("--data", "-d", help="JSONL items: HellaSwag, ARC or own schema "
                                       '({"context": ..., "choices": [...], "answer": 0}).')],
    limit: Annotated[int | None, typer.Option(help="Score only the first N items.")] = None,
    batch_size: Annotated[int, typer.Option(help="Choices scored per forward pass.")] = 16,
    out: Annotated[Path | None, typer.Option(help="Write per-item log-likelihoods and picks here (JSONL).")] = None,
    device: DEVICE = "auto",
) -> None:
    """Multiple choice by log-likelihood, as lm-eval-harness scores it: acc (highest log-likelihood of
    " " + choice after the context) and acc_norm (log-likelihood divided by the choice's length in characters)."""
    from lmforge.devices import resolve_device
    from lmforge.recipes.evaluate import run_choice

    r = run_choice(model_dir, data, limit, batch_size, out, resolve_device(device))
    typer.echo(f"acc {r.acc:.4f}  acc_norm {r.acc_norm:.4f}  ({len(r.items)} items)")


@app.command()
def task(
    model_dir: Annotated[Path, typer.Argument(help="Dir written by `lmforge finetune classify|ner|qa`.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled data in the task's format: texts + labels "
                                       "(.csv/.tsv/.jsonl), CoNLL (NER) or SQuAD json (QA).")],
    limit: Annotated[int | None, typer.Option(help="Score only the first N examples.")] = None,
    text_col: Annotated[str, typer.Option(help="classify: text column/field.")] = "text",
    label_col: Annotated[str, typer.Option(help="classify: label column/field.")] = "label",
    header: Annotated[bool, typer.Option(help="classify CSV/TSV: the first row names the columns.")] = True,
    device: DEVICE = "auto",
) -> None:
    """Run a fine-tuned task model on labelled data and score it: accuracy and macro-F1 (classify),
    entity precision/recall/F1 (NER, seqeval rules), exact match and F1 (QA, SQuAD v1.1)."""
    from lmforge.devices import resolve_device
    from lmforge.recipes.evaluate import run_task_eval

    scores = run_task_eval(model_dir, data, limit, text_col, label_col, header, resolve_device(device))
    n = scores.pop("n")
    typer.echo("  ".join(f"{k} {v:.4f}" for k, v in scores.items()) + f"  ({n} examples)")


@app.command()
def summarize(
    model_dir: Annotated[Path, typer.Argument(help="Chat model dir (e.g. from `lmforge finetune summarize`).")],
    data: Annotated[Path, typer.Option("--data", "-d", help='Records {"document": ..., "summary": ...} '
                                       "(.jsonl or a .json array).")],
    limit: Annotated[int | None, typer.Option(help="Summarize only the first N documents.")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Longest summary in tokens.")] = 64,
    device: DEVICE = "auto",
) -> None:
    """Greedy summaries of the documents, scored against the references with ROUGE-1/2/L (stemmed)."""
    from lmforge.devices import resolve_device
    from lmforge.recipes.evaluate import run_summarize_eval

    scores = run_summarize_eval(model_dir, data, limit, max_new_tokens, resolve_device(device))
    n = scores.pop("n")
    typer.echo("  ".join(f"{k} {v:.2f}" for k, v in scores.items()) + f"  ({n} documents)")


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
