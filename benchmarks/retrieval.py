"""Retrieval on SQuAD v1.1 dev (24 articles): BM25, dense (MiniLM), dense fine-tuned, hybrid; ANN recall.

    python -m benchmarks.retrieval [--finetune-minutes 6 | --finetune-minutes 0 --epochs 1] [--precision bf16]

Every paragraph is a document (913), every question a query (4,961); a query is answered when its
own paragraph is retrieved. Metrics: recall@1/5/10 and MRR@10, for every question and for the
questions of the held-out articles (every third article), which the fine-tuned encoder never saw:
it is trained with in-batch negatives (``tasks.retrieval.finetune_encoder``, the one Trainer) on
the other articles' (question, paragraph) pairs. Throughput: indexing (load + chunk + embed + save,
paragraphs/s) and queries/s per mode, batched as ``lmforge rag search --queries`` runs them.

ANN: the 4,961 question vectors are indexed and the 913 paragraph vectors query them; recall@10 of
each approximate index against exact search, with build and query time (hnswlib is the store's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._machine import machine_summary
from lmforge.infer.sentence import SentenceEncoder
from lmforge.interop.convert import minilm_dir
from lmforge.rag.documents import Document
from lmforge.rag.retriever import Retriever
from lmforge.rag.stores import EmbeddedStore
from lmforge.tasks.retrieval import finetune_encoder
from lmforge.tasks.training import FinetuneConfig

SQUAD = Path(__file__).resolve().parents[1] / "tests" / "data" / "squad_v11" / "squad_v11_dev_part1.json"


def load_squad() -> tuple[list[Document], list[tuple[str, str, bool]]]:
    """Paragraph documents and (question, doc id, held out?) triples; every third article is held out."""
    docs, questions = [], []
    for a, article in enumerate(json.loads(SQUAD.read_text(encoding="utf-8"))["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            doc = Document(f"{article['title']}/{p}", article["title"], paragraph["context"])
            docs.append(doc)
            questions += [(qa["question"], doc.doc_id, a % 3 == 2) for qa in paragraph["qas"]]
    return docs, questions


def scores(ranked: list[list[str]], gold: list[str]) -> dict[str, float]:
    ranks = [r.index(g) + 1 if g in r else None for r, g in zip(ranked, gold, strict=True)]
    out = {f"R@{k}": sum(1 for r in ranks if r and r <= k) / len(ranks) for k in (1, 5, 10)}
    out["MRR@10"] = sum(1 / r for r in ranks if r and r <= 10) / len(ranks)
    return out


def evaluate(retriever: Retriever, questions, mode: str, vectors: np.ndarray | None) -> tuple[dict, dict, float]:
    """(metrics on all questions, on held-out ones, queries/s without embedding the queries)."""
    start = time.perf_counter()
    hits = retriever.search_many([q for q, _, _ in questions], k=10, mode=mode, vectors=vectors)
    qps = len(questions) / (time.perf_counter() - start)
    ranked = [[h.chunk.doc_id for h in hs] for hs in hits]
    held = [i for i, (_, _, h) in enumerate(questions) if h]
    return (scores(ranked, [d for _, d, _ in questions]),
            scores([ranked[i] for i in held], [questions[i][1] for i in held]), qps)


def index(encoder: SentenceEncoder, docs: list[Document], folder: Path) -> tuple[Retriever, float]:
    retriever = Retriever(EmbeddedStore(folder), encoder, warn=print)
    start = time.perf_counter()
    retriever.index(docs, chunk_by="sentences", size=100_000)  # one chunk per paragraph: the unit SQuAD labels
    return retriever, len(docs) / (time.perf_counter() - start)


def ann_table(corpus: np.ndarray, queries: np.ndarray) -> list[str]:
    exact = np.argsort(-(queries @ corpus.T), axis=1)[:, :10]

    def recall(found) -> float:
        return float(np.mean([len(set(map(int, f)) & set(e)) / 10 for f, e in zip(found, exact, strict=True)]))

    rows = []

    def timed(build, query, name):
        t0 = time.perf_counter()
        index = build()
        t1 = time.perf_counter()
        found = query(index)
        t2 = time.perf_counter()
        rows.append(f"| {name} | {recall(found):.3f} | {t1 - t0:.2f} | {len(queries) / (t2 - t1):,.0f} |")

    import hnswlib

    def hnsw(ef: int):
        def build():
            index = hnswlib.Index(space="ip", dim=corpus.shape[1])
            index.init_index(len(corpus), ef_construction=200, M=16)
            index.add_items(corpus, np.arange(len(corpus)))
            index.set_ef(ef)
            return index
        return build

    for ef in (32, 128):
        timed(hnsw(ef), lambda i: i.knn_query(queries, k=10)[0], f"hnswlib (M=16, ef={ef}; the store's: 128)")
    try:
        import usearch.index
        timed(lambda: _usearch(usearch.index, corpus), lambda i: i.search(queries, 10).keys, "usearch (defaults)")
    except ImportError:
        rows.append("| usearch | not installed | | |")
    try:
        import faiss

        def build_faiss():
            index = faiss.IndexHNSWFlat(corpus.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction, index.hnsw.efSearch = 200, 128
            index.add(corpus)
            return index
        timed(build_faiss, lambda i: i.search(queries, 10)[1], "faiss-cpu IndexHNSWFlat (M=16, ef=128)")
    except ImportError:
        rows.append("| faiss-cpu | not installed | | |")
    return rows


def _usearch(module, corpus: np.ndarray):
    index = module.Index(ndim=corpus.shape[1], metric="ip")
    index.add(np.arange(len(corpus)), corpus)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finetune-minutes", type=float, default=6.0,
                        help="wall-clock budget of the fine-tune (the LR follows it); 0: train --epochs whole")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32", help="of the fine-tune only")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    docs, questions = load_squad()
    held = sum(h for _, _, h in questions)
    print(machine_summary())
    print(f"\nSQuAD v1.1 dev part 1: {len(docs)} paragraphs, {len(questions)} questions "
          f"({held} from the {len({d.split('/')[0] for _, d, h in questions if h})} held-out articles)\n")
    encoder = SentenceEncoder.from_dir(minilm_dir(), max_tokens=256, precision="fp32")
    results, throughput = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        retriever, throughput["index"] = index(encoder, docs, Path(tmp) / "base")
        start = time.perf_counter()
        question_vectors = retriever.embed_queries([q for q, _, _ in questions])
        throughput["embed"] = len(questions) / (time.perf_counter() - start)
        for mode in ("bm25", "dense", "hybrid"):
            *results[mode], throughput[mode] = evaluate(retriever, questions, mode, question_vectors)
        paragraph_vectors = retriever.store.vectors

        pairs = [(q, next(d.text for d in docs if d.doc_id == doc_id)) for q, doc_id, h in questions if not h]
        config = FinetuneConfig(epochs=args.epochs, batch_size=args.batch_size, lr=2e-5,
                                max_minutes=args.finetune_minutes or None, precision=args.precision, seed=0)
        start = time.perf_counter()
        trained = finetune_encoder(encoder, pairs, Path(tmp) / "finetune", config)
        minutes = (time.perf_counter() - start) / 60
        tuned, _ = index(encoder, docs, Path(tmp) / "tuned")
        tuned_vectors = tuned.embed_queries([q for q, _, _ in questions])
        for mode in ("dense", "hybrid"):
            *results[f"{mode} fine-tuned"], _ = evaluate(tuned, questions, mode, tuned_vectors)
    print(f"fine-tuning: {trained.steps} steps x {args.batch_size} pairs ({len(pairs)} pairs from the training "
          f"articles), {minutes:.1f} min\n")
    print("| retriever | R@1 | R@5 | R@10 | MRR@10 | held-out R@1 | held-out R@5 | held-out R@10 | held-out MRR@10 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (every, held_out) in results.items():
        cells = [f"{every[m]:.3f}" for m in ("R@1", "R@5", "R@10", "MRR@10")]
        cells += [f"{held_out[m]:.3f}" for m in ("R@1", "R@5", "R@10", "MRR@10")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\nindexing (chunk + embed + save, MiniLM fp32): {throughput['index']:.1f} paragraphs/s; embedding the "
          f"questions: {throughput['embed']:.0f}/s; search after that (top-10, exact): "
          + ", ".join(f"{m} {throughput[m]:.0f} queries/s" for m in ("bm25", "dense", "hybrid")))
    print(f"\nANN vs exact: {len(question_vectors)} question vectors indexed, {len(paragraph_vectors)} paragraph "
          "vectors as queries\n")
    print("| index | recall@10 vs exact | build s | queries/s |")
    print("|---|---:|---:|---:|")
    for row in ann_table(np.ascontiguousarray(question_vectors), np.ascontiguousarray(paragraph_vectors)):
        print(row)
    print(f"\n(median paragraph length: {statistics.median(len(d.text) for d in docs):.0f} characters)")


if __name__ == "__main__":
    main()
