"""``lmforge classic ...``: train, evaluate and apply bag-of-words text classifiers.

Argument parsing only; the work happens in :mod:`lmforge.classic`.
"""

from __future__ import annotations

import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lmforge.errors import ConfigError
from lmforge.io import read_text

app = typer.Typer(help="Naive Bayes / logistic regression / linear SVM text classifiers.", no_args_is_help=True)

DataOpt = Annotated[Path, typer.Option("--data", "-d", help="CSV (quoted) or TSV/.txt (tab, unquoted) file.")]
TextColOpt = Annotated[str, typer.Option("--text-col", help="Column with the text: a header name, or 0-based index.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column with the label: a header name, or index.")]
NoHeaderOpt = Annotated[
    bool, typer.Option("--no-header", help="The file has no header row; columns are 0-based indices.")
]
DelimiterOpt = Annotated[
    str | None, typer.Option(help="Field separator; default: tab for .tsv/.txt, comma otherwise.")
]
ModelDirOpt = Annotated[Path, typer.Option("--model", "-m", help="A folder written by `lmforge classic train`.")]


class Model(StrEnum):
    nb = "nb"
    logreg = "logreg"
    svm = "svm"


class Features(StrEnum):
    tfidf = "tfidf"
    count = "count"


def _print_scores(title: str, y_true, y_pred, classes: list[str], baseline: str) -> None:
    from lmforge.classic import classification_report
    report = classification_report(y_true, y_pred, classes)
    base = classification_report(y_true, [baseline] * len(y_true), classes)
    typer.echo(f"{title}\n{report.table()}")
    typer.echo(f"majority-class baseline ({baseline!r}): accuracy {base.accuracy:.4f}, macro-F1 {base.macro_f1:.4f}")


@app.command()
def train(
    data: DataOpt,
    text_col: TextColOpt,
    label_col: LabelColOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (classifier.json + weights.safetensors).")],
    model: Annotated[Model, typer.Option(help="nb: multinomial naive Bayes; logreg; svm: linear SVM.")] = Model.nb,
    features: Annotated[Features, typer.Option(help="TF-IDF weights or raw counts.")] = Features.tfidf,
    ngram_max: Annotated[int, typer.Option(help="Longest word n-gram used as a feature (2 adds word pairs).")] = 1,
    min_df: Annotated[int, typer.Option(help="Drop terms seen in fewer documents than this.")] = 1,
    c: Annotated[float, typer.Option("--c", help="logreg/svm: inverse regularization strength.")] = 1.0,
    alpha: Annotated[float, typer.Option(help="nb: additive smoothing.")] = 1.0,
    holdout: Annotated[
        float, typer.Option(help="Keep this fraction out (stratified, seeded) and report scores on it; 0 = none.")
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed for the hold-out split and the solvers.")] = 0,
    no_header: NoHeaderOpt = False,
    delimiter: DelimiterOpt = None,
) -> None:
    """Train a classifier on DATA and save it to OUT.

    With --holdout 0.2 the model is trained on the other 80% and scored on the 20%.

    Example: lmforge classic train --data sms.tsv --no-header --text-col 1 --label-col 0 --out spam/ --holdout 0.2
    """
    from lmforge.classic import TextClassifier, majority_class, read_labeled, stratified_split
    if ngram_max < 1:
        raise ConfigError(f"--ngram-max must be >= 1, got {ngram_max}")
    examples = read_labeled(data, text_col, label_col, delimiter, header=not no_header)
    texts, labels = examples.texts, examples.labels
    test_idx = None
    if holdout > 0:
        train_idx, test_idx = stratified_split(labels, holdout, seed)
        texts, labels = [texts[i] for i in train_idx], [labels[i] for i in train_idx]
    start = time.perf_counter()
    classifier = TextClassifier.train(
        texts, labels, model.value, features.value, (1, ngram_max), min_df, c=c, alpha=alpha, seed=seed
    )
    folder = classifier.save(out)
    typer.echo(
        f"trained {model.value} on {len(texts):,} examples, {len(classifier.vectorizer.vocabulary_):,} terms, "
        f"classes {classifier.class_counts} in {time.perf_counter() - start:.1f} s -> {folder}"
    )
    if test_idx is not None:
        held_texts = [examples.texts[i] for i in test_idx]
        held_labels = [examples.labels[i] for i in test_idx]
        _print_scores(
            f"held-out {holdout:.0%} ({len(held_texts):,} examples, seed {seed}):",
            held_labels,
            classifier.predict(held_texts),
            classifier.classes,
            majority_class(labels),
        )


@app.command("eval")
def evaluate(
    model: ModelDirOpt,
    data: DataOpt,
    text_col: TextColOpt,
    label_col: LabelColOpt,
    no_header: NoHeaderOpt = False,
    delimiter: DelimiterOpt = None,
) -> None:
    """Score a saved classifier on labeled DATA: accuracy, per-class precision/recall/F1, baseline.

    Example: lmforge classic eval --model spam/ --data test.csv --text-col text --label-col label
    """
    from lmforge.classic import TextClassifier, check_known_labels, majority_class, read_labeled
    classifier = TextClassifier.load(model)
    examples = read_labeled(data, text_col, label_col, delimiter, header=not no_header)
    check_known_labels(examples, classifier.classes)
    counts = classifier.class_counts
    baseline = max(sorted(counts), key=counts.__getitem__) if counts else majority_class(examples.labels)
    _print_scores(
        f"{data} ({len(examples.texts):,} examples):",
        examples.labels,
        classifier.predict(examples.texts),
        classifier.classes,
        baseline,
    )


@app.command()
def predict(
    model: ModelDirOpt,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify; none = one per stdin line.")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Classify each line of this file.")] = None,
) -> None:
    """Print the predicted label of each text, one per line.

    Example: lmforge classic predict --model spam/ "WINNER! Claim your free prize now"
    """
    from lmforge.classic import TextClassifier
    if texts and file is not None:
        raise ConfigError("give TEXTS or --file, not both")
    classifier = TextClassifier.load(model)
    if not texts:
        source = read_text(file) if file is not None else sys.stdin.read()
        texts = [line for line in source.split("\n") if line.strip()]
    for label in classifier.predict(texts):
        typer.echo(label)
