"""Vector stores behind one small interface, and the embedded default that persists to one folder.

A store holds chunks (text + source + offsets + metadata) and one unit vector per chunk, and
answers "the k nearest chunks to this vector, among those whose metadata match ``where``". It
also remembers which encoder made its vectors (:attr:`VectorStore.encoder`, the encoder's
fingerprint), so a query embedded by another model is refused instead of silently ranking noise.

:class:`EmbeddedStore` keeps everything in memory and in one folder:

- ``store.json``: format, encoder fingerprint, dimension, and the *generation* whose files are current;
- ``chunks.<gen>.jsonl`` and ``vectors.<gen>.npy`` (float32, (N, C)); ``ann.<gen>.bin`` when built.

Saving writes a new generation's files first and switches ``store.json`` last (atomically), so a
crash mid-save leaves the previous store intact; opening checks every file against ``store.json``
and refuses a damaged store in one line without writing anything.

Search is exact cosine (one matrix-vector product) until the store holds ``ann_threshold``
chunks; from there an HNSW graph (``hnswlib``) answers unfiltered queries, with ``ef`` set so that
recall@10 against exact search stays >= 0.95 (``python -m benchmarks.retrieval`` measures it).
Filtered queries stay exact: a filter can remove most of a graph's neighbours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from lmforge.errors import ConfigError, DataError
from lmforge.io import atomic_write, read_json, write_json
from lmforge.rag.chunking import Chunk

FORMAT = "lmforge-rag-store/1"
STORE_FILE = "store.json"
ANN_THRESHOLD = 20_000


class VectorStore(Protocol):
    """What retrieval needs from a store; :class:`EmbeddedStore` and ``rag.qdrant.QdrantStore`` implement it."""

    encoder: str | None  # fingerprint of the encoder that made the vectors; None while empty and new

    def __len__(self) -> int: ...

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Add chunks (vectors (N, C), unit length); a chunk id already present is replaced."""

    def delete_docs(self, doc_ids: Iterable[str]) -> int:
        """Remove every chunk of these documents; returns how many chunks went."""

    def doc_digests(self) -> dict[str, str]:
        """doc id -> content digest of what is indexed, so unchanged documents can be skipped."""

    def search(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[Chunk, float]]:
        """The ``k`` chunks with the highest cosine to ``vector`` (C,) whose metadata match ``where``."""

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, in a stable order (BM25 is built over them)."""

    def save(self) -> None: ...


def matches(chunk: Chunk, where: dict[str, Any] | None) -> bool:
    """Metadata filter: every key equals (a list value: is one of) the chunk's value; ``source``/``doc_id`` too."""
    if not where:
        return True
    fields = {**chunk.metadata, "source": chunk.source, "doc_id": chunk.doc_id}
    return all(fields.get(k) in v if isinstance(v, list) else fields.get(k) == v for k, v in where.items())


def check_encoder(store: VectorStore, fingerprint: str, where: str) -> None:
    """Refuse vectors from another encoder than the one the store was built with."""
    if store.encoder is not None and store.encoder != fingerprint:
        raise ConfigError(f"{where}: this store was built with the embedding model {store.encoder.split(':')[0]!r} "
                          f"({store.encoder}); the encoder given is {fingerprint}: use the same model, or index "
                          "into a new store")


class EmbeddedStore:
    def __init__(self, folder: str | Path, ann_threshold: int = ANN_THRESHOLD, ef: int = 128) -> None:
        self.folder = Path(folder)
        self.ann_threshold, self.ef = ann_threshold, ef
        self.encoder: str | None = None
        self.chunks: list[Chunk] = []
        self.vectors = np.zeros((0, 0), dtype=np.float32)  # (N, C)
        self._generation = 0
        self._ann: Any = None
        if (self.folder / STORE_FILE).exists():
            self._load()
        elif self.folder.exists() and any(self.folder.iterdir()):
            raise DataError(f"{self.folder}: not an lmforge store (no {STORE_FILE}) and not empty; "
                            "give a new or empty folder")

    # ------------------------------------------------------------------ persistence
    def _load(self) -> None:
        meta = read_json(self.folder / STORE_FILE, "store description")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataError(f"{self.folder / STORE_FILE}: not an lmforge store description (expected format {FORMAT})")
        gen, count = meta.get("generation"), meta.get("count")
        try:
            self.vectors = np.load(self.folder / f"vectors.{gen}.npy", allow_pickle=False)
            lines = (self.folder / f"chunks.{gen}.jsonl").read_text(encoding="utf-8").splitlines()
            self.chunks = [Chunk(**json.loads(line)) for line in lines]
        except (OSError, ValueError, TypeError) as e:
            raise DataError(f"{self.folder}: the store is damaged ({type(e).__name__}: {e}); nothing was changed. "
                            "Re-index into a new folder") from None
        if len(self.chunks) != count or self.vectors.shape[0] != count or \
                (count and self.vectors.shape[1] != meta.get("dim")):
            raise DataError(f"{self.folder}: the store is damaged: {STORE_FILE} says {count} chunks of dimension "
                            f"{meta.get('dim')}, the files hold {len(self.chunks)} chunks and vectors "
                            f"{self.vectors.shape}; nothing was changed. Re-index into a new folder")
        self.encoder, self._generation = meta.get("encoder"), gen
        if (self.folder / f"ann.{gen}.bin").is_file():
            self._ann = self._open_ann(self.folder / f"ann.{gen}.bin")

    def save(self) -> None:
        old, gen = self._generation, self._generation + 1
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.folder / f"chunks.{gen}.jsonl") as f:
            f.writelines(json.dumps(c.to_json(), ensure_ascii=False) + "\n" for c in self.chunks)
        with atomic_write(self.folder / f"vectors.{gen}.npy", "wb") as f:
            np.save(f, self.vectors, allow_pickle=False)
        self._ann = self._build_ann() if len(self.chunks) >= self.ann_threshold else None
        if self._ann is not None:
            self._ann.save_index(str(self.folder / f"ann.{gen}.bin"))
        write_json(self.folder / STORE_FILE, {"format": FORMAT, "encoder": self.encoder, "generation": gen,
                                              "count": len(self.chunks), "dim": int(self.vectors.shape[1])})
        self._generation = gen
        for name in (f"chunks.{old}.jsonl", f"vectors.{old}.npy", f"ann.{old}.bin"):
            (self.folder / name).unlink(missing_ok=True)

    # ------------------------------------------------------------------ the interface
    def __len__(self) -> int:
        return len(self.chunks)

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        new_ids = {c.chunk_id for c in chunks}
        keep = [i for i, c in enumerate(self.chunks) if c.chunk_id not in new_ids]
        old = self.vectors[keep] if len(self.chunks) else np.zeros((0, vectors.shape[1]), dtype=np.float32)
        self.chunks = [self.chunks[i] for i in keep] + list(chunks)
        self.vectors = np.concatenate([old, vectors.astype(np.float32)])
        self._ann = None  # rebuilt on save

    def delete_docs(self, doc_ids: Iterable[str]) -> int:
        gone = set(doc_ids)
        keep = [i for i, c in enumerate(self.chunks) if c.doc_id not in gone]
        removed = len(self.chunks) - len(keep)
        if removed:
            self.chunks, self.vectors, self._ann = [self.chunks[i] for i in keep], self.vectors[keep], None
        return removed

    def doc_digests(self) -> dict[str, str]:
        return {c.doc_id: c.metadata.get("digest", "") for c in self.chunks}

    def all_chunks(self) -> list[Chunk]:
        return self.chunks

    def search(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[Chunk, float]]:
        if not self.chunks:
            return []
        if self._ann is not None and not where:
            return self.search_ann(vector, k)
        allowed = [i for i, c in enumerate(self.chunks) if matches(c, where)] if where else None
        return self.search_exact(vector, k, allowed)

    def search_exact(self, vector: np.ndarray, k: int, allowed: list[int] | None = None) -> list[tuple[Chunk, float]]:
        rows = np.arange(len(self.chunks)) if allowed is None else np.array(allowed, dtype=int)
        if not len(rows):
            return []
        scores = self.vectors[rows] @ vector.astype(np.float32)  # (n,) cosines: all vectors have unit length
        k = min(k, len(rows))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.chunks[rows[i]], float(scores[i])) for i in best]

    def search_ann(self, vector: np.ndarray, k: int) -> list[tuple[Chunk, float]]:
        if self._ann is None:
            self._ann = self._build_ann()
        labels, distances = self._ann.knn_query(vector.astype(np.float32)[None], k=min(k, len(self.chunks)))
        return [(self.chunks[int(i)], float(1 - d)) for i, d in zip(labels[0], distances[0], strict=True)]

    # ------------------------------------------------------------------ the HNSW graph
    def _empty_ann(self) -> Any:
        try:
            import hnswlib
        except ImportError:
            raise ConfigError("stores of 20,000+ chunks use an HNSW index: pip install hnswlib") from None
        return hnswlib.Index(space="ip", dim=int(self.vectors.shape[1]))  # inner product = cosine on unit vectors

    def _build_ann(self) -> Any:
        index = self._empty_ann()
        index.init_index(max_elements=len(self.chunks), ef_construction=200, M=16)
        index.add_items(self.vectors, np.arange(len(self.chunks)))
        index.set_ef(self.ef)
        return index

    def _open_ann(self, path: Path) -> Any:
        index = self._empty_ann()
        index.load_index(str(path), max_elements=len(self.chunks))
        index.set_ef(self.ef)
        return index
