"""lmforge Word2Vec vs gensim Word2Vec: same corpus, same settings, same run.

    python -m benchmarks.word2vec_vs_gensim [--epochs 5] [--methods skipgram,cbow]

Corpus: the bundled public-domain books (NLTK's Gutenberg selection + Wharton's "The
Verdict", from shared/data/gutenberg) plus tinyshakespeare, split into paragraphs and
tokenized once by :mod:`lmforge.embeddings.corpus`; gensim gets exactly those sentences.
Settings (both): dim 100, window 5, min_count 5, 5 negatives, sample 1e-3, start lr
0.025 (skip-gram) / 0.05 (CBOW) decaying linearly, seed 0. gensim runs with
``workers`` = the number of CPUs (its Cython loop releases the GIL); lmforge uses
PyTorch's intra-op threads. Quality: Spearman on WordSim-353 and SimLex-999 (pairs with
both words in the vocabulary) and Google analogy accuracy (3CosAdd, all vocabulary words).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.embeddings import EmbeddingRun, WordVectors, evaluate_all, train_embeddings
from lmforge.embeddings.corpus import bundled_texts, texts_to_sentences

SETTINGS = {"dim": 100, "window": 5, "min_count": 5, "negatives": 5, "sample": 1e-3, "seed": 0}


def train_gensim(sentences: list[list[str]], method: str, epochs: int) -> tuple[WordVectors, float]:
    from gensim.models import Word2Vec

    start = time.perf_counter()
    model = Word2Vec(
        sentences, vector_size=SETTINGS["dim"], window=SETTINGS["window"], min_count=SETTINGS["min_count"],
        negative=SETTINGS["negatives"], sample=SETTINGS["sample"], sg=int(method == "skipgram"),
        alpha=0.025 if method == "skipgram" else 0.05, epochs=epochs, seed=SETTINGS["seed"],
        workers=len(os.sched_getaffinity(0)),
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    return WordVectors(list(model.wv.index_to_key), model.wv.vectors), elapsed


def train_ours(method: str, epochs: int, out_dir: str) -> tuple[WordVectors, float]:
    run = EmbeddingRun(method=method, epochs=epochs, **SETTINGS)
    start = time.perf_counter()
    trained = train_embeddings(run, out_dir, console=Console(stderr=True, quiet=True))
    return trained.vectors, time.perf_counter() - start


def row(name: str, vectors: WordVectors, seconds: float, words: int) -> list[str]:
    report = evaluate_all(vectors, restrict_vocab=None)
    ws, sl, an = report.wordsim, report.simlex, report.analogies
    return [name, f"{seconds:.1f}", f"{words / seconds:,.0f}", f"{len(vectors):,}",
            f"{ws.spearman:.3f} ({ws.used})", f"{sl.spearman:.3f} ({sl.used})",
            f"{an.accuracy:.3f} ({an.used})"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--methods", default="skipgram,cbow")
    args = parser.parse_args()
    print(machine_summary())
    sentences = texts_to_sentences(bundled_texts())
    words = sum(len(s) for s in sentences) * args.epochs  # raw words processed (before min_count/subsampling)
    print(f"corpus: {len(sentences):,} paragraphs, {words // args.epochs:,} words; {args.epochs} epochs; "
          f"torch threads {__import__('torch').get_num_threads()}\n")  # fmt: skip
    rows = []
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as out_dir:
            ours, ours_s = train_ours(method, args.epochs, out_dir)
        ref, ref_s = train_gensim(sentences, method, args.epochs)
        rows += [row(f"lmforge {method}", ours, ours_s, words), row(f"gensim {method}", ref, ref_s, words),
                 [f"ratio {method} (lmforge / gensim)", f"{ours_s / ref_s:.2f}x", "", "", "", "", ""]]  # fmt: skip
    header = ["model", "train s", "words/s", "vocab", "WordSim-353 ρ (pairs)", "SimLex-999 ρ (pairs)",
              "analogy acc (questions)"]  # fmt: skip
    print(markdown_table(header, rows))
    print("\nTraining time includes building the vocabulary and the epochs' examples (both libraries);"
          " the corpus is tokenized once, before timing.")


if __name__ == "__main__":
    main()
