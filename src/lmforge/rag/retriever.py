"""Index documents into a store and search it by BM25, dense vectors, or both fused.

``hybrid`` fuses the BM25 and dense rankings by reciprocal rank fusion (Cormack et al., 2009):
score(d) = sum over rankings of 1 / (k + rank(d)), k = 60. Ranks, not scores, are fused, so the
two scales (BM25's unbounded sums, cosines in [-1, 1]) need no calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lmforge.errors import ConfigError
from lmforge.infer.sentence import SentenceEncoder
from lmforge.rag.bm25 import BM25, bm25_terms
from lmforge.rag.chunking import Chunk, ChunkBy, chunk_document
from lmforge.rag.documents import Document, Warn
from lmforge.rag.stores import VectorStore, check_encoder, matches

Mode = Literal["bm25", "dense", "hybrid"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid")
RRF_K = 60


@dataclass
class Hit:
    chunk: Chunk
    score: float

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {"score": round(self.score, 6), "source": c.source, "start": c.start, "end": c.end,
                "doc_id": c.doc_id, "text": c.text, "metadata": {k: v for k, v in c.metadata.items() if k != "digest"}}


@dataclass
class IndexReport:
    documents: int  # indexed (new or changed)
    unchanged: int  # skipped: same content already indexed
    chunks: int  # chunks written
    total_chunks: int  # in the store afterwards


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Ids ranked by sum of 1 / (k + rank) over the rankings (rank 1 = best), best first."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            fused[key] = fused.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: -kv[1])


class Retriever:
    def __init__(self, store: VectorStore, encoder: SentenceEncoder, warn: Warn, where: str = "store") -> None:
        self.store, self.encoder, self.warn = store, encoder, warn
        self.fingerprint = encoder.fingerprint()
        check_encoder(store, self.fingerprint, where)
        self._bm25: tuple[BM25, list[Chunk]] | None = None

    def index(self, docs: Sequence[Document], chunk_by: ChunkBy = "sentences", size: int | None = None,
              overlap: int | None = None, on_start: Callable[[int], None] | None = None,
              on_batch: Callable[[int], None] | None = None) -> IndexReport:
        """Add or update ``docs`` (same id = replaced, same content = skipped) and save the store."""
        indexed = self.store.doc_digests()
        changed = [d for d in docs if indexed.get(d.doc_id) != d.digest]
        chunks = [c for d in changed for c in chunk_document(d, chunk_by, size, overlap)]
        if on_start is not None:
            on_start(len(chunks))
        vectors = self.encoder.encode([c.text for c in chunks], on_batch=on_batch).numpy()  # (N, C)
        self.store.delete_docs(d.doc_id for d in changed)
        if self.store.encoder is None:
            self.store.encoder = self.fingerprint
        self.store.upsert(chunks, vectors)
        self.store.save()
        self._bm25 = None
        return IndexReport(len(changed), len(docs) - len(changed), len(chunks), len(self.store))

    def delete(self, doc_ids: Sequence[str]) -> int:
        removed = self.store.delete_docs(doc_ids)
        self.store.save()
        self._bm25 = None
        return removed

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        """(Q, C) query vectors in one batched pass; a query longer than the encoder's window is cut, with a warning."""
        def truncated(i: int) -> None:
            self.warn(f"the query is longer than the encoder's window of {self.encoder.max_tokens} tokens: "
                      f"only its start was used for dense search: {queries[i][:60]!r}...")
        return self.encoder.encode(queries, on_truncate=truncated).numpy()

    def search(self, query: str, k: int = 5, mode: Mode = "hybrid", where: dict[str, Any] | None = None) -> list[Hit]:
        return self.search_many([query], k, mode, where)[0]

    def search_many(self, queries: Sequence[str], k: int = 5, mode: Mode = "hybrid",
                    where: dict[str, Any] | None = None, vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """The hits of each query, in order; dense queries are embedded together, one batch (or come as
        ``vectors``, (Q, C) from :meth:`embed_queries`, when several modes search the same queries)."""
        if mode not in MODES:
            raise ConfigError(f"search mode must be one of {', '.join(MODES)}; got {mode!r}")
        if empty := [i + 1 for i, q in enumerate(queries) if not q.strip()]:
            raise ConfigError(f"query {empty[0]} is empty")
        if mode == "bm25":
            vectors = [None] * len(queries)
        elif vectors is None:
            vectors = self.embed_queries(queries)
        return [self._search(q, v, k, mode, where) for q, v in zip(queries, vectors, strict=True)]

    def _search(self, query: str, vector: np.ndarray | None, k: int, mode: Mode,
                where: dict[str, Any] | None) -> list[Hit]:
        pool = k if mode != "hybrid" else max(4 * k, 50)  # fusion re-ranks a deeper pool of each side
        dense = self.store.search(vector, pool, where) if vector is not None else []
        lexical = self._bm25_search(query, pool, where) if mode != "dense" else []
        if mode == "dense":
            return [Hit(c, s) for c, s in dense]
        if mode == "bm25":
            return lexical
        by_id = {c.chunk_id: c for c, _ in dense} | {h.chunk.chunk_id: h.chunk for h in lexical}
        fused = reciprocal_rank_fusion([[c.chunk_id for c, _ in dense], [h.chunk.chunk_id for h in lexical]])
        return [Hit(by_id[key], score) for key, score in fused[:k]]

    def _bm25_search(self, query: str, k: int, where: dict[str, Any] | None) -> list[Hit]:
        if self._bm25 is None:
            chunks = self.store.all_chunks()
            self._bm25 = BM25([bm25_terms(c.text) for c in chunks]), chunks
        bm25, chunks = self._bm25
        ranked = bm25.top_k(bm25_terms(query), k if not where else len(chunks))
        return [Hit(chunks[i], s) for i, s in ranked if matches(chunks[i], where)][:k]
