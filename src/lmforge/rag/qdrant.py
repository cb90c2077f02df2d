"""The same store interface on Qdrant (``qdrant-client``): one machine's folder, or a server/cluster URL.

``QdrantStore(path=DIR)`` runs Qdrant's local mode inside this process and persists to ``DIR``
(what the tests use); ``QdrantStore(url="http://host:6333")`` talks to a Qdrant server or cluster,
which is how a collection outgrows one machine: sharding, replication and concurrent writers are
Qdrant's job there, and nothing else in lmforge changes. Each chunk is one point (id: a UUID derived
from the chunk id, so re-indexing overwrites instead of duplicating) whose payload holds the chunk,
the encoder fingerprint and the metadata (filterable as ``metadata.<key>``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from lmforge.errors import ConfigError
from lmforge.rag.chunking import Chunk

COLLECTION = "lmforge"


def _point_id(chunk_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, chunk_id))


class QdrantStore:
    def __init__(self, path: str | Path | None = None, url: str | None = None, collection: str = COLLECTION,
                 timeout: float = 10.0) -> None:
        try:
            from qdrant_client import QdrantClient, models
        except ImportError:
            raise ConfigError("the Qdrant store needs qdrant-client: pip install qdrant-client") from None
        self.models, self.collection = models, collection
        self.where = url or str(path)
        self.client = (QdrantClient(url=url, timeout=int(timeout), check_compatibility=False) if url
                       else QdrantClient(path=str(path)))
        try:
            exists = self.client.collection_exists(collection)
        except Exception as e:  # connection refused, DNS, TLS, timeouts: each client transport has its own type
            raise ConfigError(f"cannot reach Qdrant at {url}: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
                              ) from None
        first = self.client.scroll(collection, limit=1, with_payload=True)[0] if exists else []
        self.encoder: str | None = first[0].payload["encoder"] if first else None
        self._exists = exists

    def __len__(self) -> int:
        return self.client.count(self.collection).count if self._exists else 0

    def _ensure(self, dim: int) -> None:
        if not self._exists:
            self.client.create_collection(self.collection, vectors_config=self.models.VectorParams(
                size=dim, distance=self.models.Distance.COSINE))
            self._exists = True

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        if not chunks:
            return
        self._ensure(vectors.shape[1])
        points = [self.models.PointStruct(id=_point_id(c.chunk_id), vector=v.tolist(),
                                          payload={**c.to_json(), "encoder": self.encoder})
                  for c, v in zip(chunks, vectors, strict=True)]
        for start in range(0, len(points), 256):
            self.client.upsert(self.collection, points[start:start + 256])

    def _filter(self, where: dict[str, Any] | None) -> Any:
        if not where:
            return None
        m = self.models
        conditions = [m.FieldCondition(key=k if k in ("source", "doc_id") else f"metadata.{k}",
                                       match=m.MatchAny(any=v) if isinstance(v, list) else m.MatchValue(value=v))
                      for k, v in where.items()]
        return m.Filter(must=conditions)

    def delete_docs(self, doc_ids: Iterable[str]) -> int:
        doc_ids = list(doc_ids)
        if not self._exists or not doc_ids:
            return 0
        selector = self._filter({"doc_id": doc_ids})
        removed = self.client.count(self.collection, count_filter=selector).count
        self.client.delete(self.collection, points_selector=self.models.FilterSelector(filter=selector))
        return removed

    def _payloads(self) -> list[dict[str, Any]]:
        out, offset = [], None
        while self._exists:
            points, offset = self.client.scroll(self.collection, limit=1024, offset=offset, with_payload=True)
            out.extend(p.payload for p in points)
            if offset is None:
                break
        return out

    def doc_digests(self) -> dict[str, str]:
        return {p["doc_id"]: p["metadata"].get("digest", "") for p in self._payloads()}

    def all_chunks(self) -> list[Chunk]:
        chunks = [_chunk(p) for p in self._payloads()]
        return sorted(chunks, key=lambda c: (c.doc_id, c.start))

    def search(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[Chunk, float]]:
        if not self._exists:
            return []
        hits = self.client.query_points(self.collection, query=vector.tolist(), limit=k,
                                        query_filter=self._filter(where), with_payload=True).points
        return [(_chunk(h.payload), float(h.score)) for h in hits]

    def save(self) -> None:
        """Qdrant persists every write itself."""


def _chunk(payload: dict[str, Any]) -> Chunk:
    return Chunk(**{k: v for k, v in payload.items() if k != "encoder"})
