"""LSTM/GRU sentence classifiers (random or GloVe-initialised embeddings) vs TF-IDF + logistic regression.

    python -m benchmarks.rnn_classifier [--seeds 3] [--epochs 10] [--datasets "UCI sentiment"]

Data: UCI sentiment sentences (amazon + imdb + yelp, 2,700) and SMS spam (5,574),
each with the seeded stratified 80/20 split of ``lmforge.classic`` (the split
``benchmarks.finetune_tasks`` uses too). Neural rows: mean and standard deviation of
test accuracy over ``--seeds`` training seeds (the split stays fixed).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.classic import TextClassifier
from lmforge.embeddings.pretrained import load_glove_6b_50d
from lmforge.tasks.data import read_text_labels, split_examples
from lmforge.tasks.rnn_classify import train_rnn_classifier

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "sentiment"


def datasets() -> dict[str, tuple[list, list]]:
    uci = [e for f in sorted((DATA / "uci_sentiment_labelled").glob("*_labelled.txt"))
           for e in read_text_labels(f, "0", "1", header=False)]
    sms = read_text_labels(DATA / "sms_spam" / "SMSSpamCollection", "1", "0", header=False)
    return {"UCI sentiment": split_examples(uci, 0.2, seed=0), "SMS spam": split_examples(sms, 0.2, seed=0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--datasets", default="UCI sentiment,SMS spam", help="comma-separated subset")
    args = parser.parse_args()
    print(machine_summary())
    glove = load_glove_6b_50d()
    rows = []
    for name, (train, test) in datasets().items():
        if name not in args.datasets.split(","):
            continue
        texts, labels = [e.text for e in train], [e.label for e in train]
        test_texts, test_labels = [e.text for e in test], [e.label for e in test]
        start = time.perf_counter()
        tfidf = TextClassifier.train(texts, labels, kind="logreg", ngram_range=(1, 2))
        acc = float((tfidf.predict(test_texts) == np.asarray(test_labels)).mean())
        rows.append([name, "TF-IDF (1-2 grams) + logistic regression", f"{100 * acc:.2f}", "-",
                     f"{time.perf_counter() - start:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
        for cell in ("lstm", "gru"):
            for init, vectors in (("random", None), ("GloVe 6B 50d", glove)):
                accs, start = [], time.perf_counter()
                for seed in range(args.seeds):
                    with tempfile.TemporaryDirectory() as out:
                        clf = train_rnn_classifier(texts, labels, out, cell=cell, vectors=vectors,
                                                   epochs=args.epochs, seed=seed)
                    accs.append(clf.accuracy(test_texts, test_labels))
                seconds = (time.perf_counter() - start) / args.seeds
                rows.append([name, f"{cell.upper()} (1 layer, 128), {init} embeddings",
                             f"{100 * np.mean(accs):.2f}", f"{100 * np.std(accs):.2f}", f"{seconds:.1f}"])
                print(" | ".join(rows[-1]), flush=True)
    print(f"\nneural rows: {args.seeds} seeds x {args.epochs} epochs, batch 32, AdamW lr 3e-3\n")
    print(markdown_table(["data", "model", "test accuracy %", "std (seeds)", "train s (per seed)"], rows))


if __name__ == "__main__":
    main()
