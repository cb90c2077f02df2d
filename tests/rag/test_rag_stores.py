"""Both vector stores keep one contract: add/update/delete by document id, filters, persistence, no duplicates,
the encoder check; the embedded store's HNSW index agrees with exact search; damaged stores are refused."""

import numpy as np
import pytest

from lmforge.errors import ConfigError, DataError
from lmforge.infer.sentence import SentenceEncoder
from lmforge.rag.documents import Document
from lmforge.rag.retriever import Retriever
from lmforge.rag.stores import EmbeddedStore


def open_store(kind, folder):
    if kind == "embedded":
        return EmbeddedStore(folder)
    from lmforge.rag.qdrant import QdrantStore
    pytest.importorskip("qdrant_client")
    return QdrantStore(path=folder)


@pytest.fixture(params=["embedded", "qdrant"])
def kind(request):
    return request.param


def close(store):
    if hasattr(store, "client"):
        store.client.close()  # local Qdrant locks its folder until closed


def test_store_contract(kind, tmp_path, encoder, squad):
    docs, questions = squad
    retriever = Retriever(open_store(kind, tmp_path / "s"), encoder, warn=pytest.fail)
    report = retriever.index(docs)
    assert report.documents == 12 and report.total_chunks == report.chunks
    hits = retriever.search(questions[0][0], k=3, mode="dense")
    assert hits[0].chunk.doc_id == questions[0][1] and hits[0].score > hits[-1].score

    again = retriever.index(docs)  # same files again: nothing re-embedded, nothing duplicated
    assert (again.documents, again.unchanged, again.total_chunks) == (0, 12, report.total_chunks)
    changed = Document(docs[0].doc_id, docs[0].source, "Completely new text about penguins in Antarctica.",
                       docs[0].metadata)
    assert retriever.index([changed]).documents == 1
    assert retriever.search("penguins", k=1, mode="dense")[0].chunk.text == changed.text
    ids = [c.chunk_id for c in retriever.store.all_chunks()]
    assert len(ids) == len(set(ids))

    warsaw = retriever.search("Who won Super Bowl 50?", k=5, mode="dense", where={"title": "Warsaw"})
    assert warsaw and all(h.chunk.metadata["title"] == "Warsaw" for h in warsaw)
    assert retriever.delete([docs[1].doc_id]) > 0
    assert all(c.doc_id != docs[1].doc_id for c in retriever.store.all_chunks())
    count = len(retriever.store)
    close(retriever.store)

    reopened = Retriever(open_store(kind, tmp_path / "s"), encoder, warn=pytest.fail)  # persisted across restarts
    assert len(reopened.store) == count and reopened.search("penguins", k=1)[0].chunk.text == changed.text
    other = SentenceEncoder(encoder.model, encoder.tokenizer, max_tokens=128, name="other-model")
    with pytest.raises(ConfigError, match="built with the embedding model"):
        Retriever(reopened.store, other, warn=pytest.fail)
    close(reopened.store)


@pytest.mark.slow
def test_hybrid_search_beats_or_matches_each_side(tmp_path, encoder, squad):
    docs, questions = squad
    retriever = Retriever(EmbeddedStore(tmp_path), encoder, warn=pytest.fail)
    retriever.index(docs)
    hits = {mode: sum(retriever.search(q, k=1, mode=mode)[0].chunk.doc_id == d for q, d in questions[::6])
            for mode in ("bm25", "dense", "hybrid")}
    assert hits["hybrid"] >= min(hits["bm25"], hits["dense"]) and hits["dense"] > 0.6 * len(questions[::6]), hits


def test_a_long_query_is_truncated_with_a_warning(tmp_path, encoder, squad):
    warnings = []
    retriever = Retriever(EmbeddedStore(tmp_path), encoder, warn=warnings.append)
    retriever.index(squad[0][:2])
    assert retriever.search("Super Bowl " * 300, k=1, mode="dense")
    assert len(warnings) == 1 and "window of 256 tokens" in warnings[0]


def test_hnsw_recall_at_10_against_exact_search(tmp_path):
    pytest.importorskip("hnswlib")
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(50, 64))
    vectors = centers[rng.integers(0, 50, 3000)] + 0.5 * rng.normal(size=(3000, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    store = EmbeddedStore(tmp_path, ann_threshold=1000)
    from lmforge.rag.chunking import Chunk
    store.upsert([Chunk(str(i), str(i), "x", 0, 1, "x") for i in range(len(vectors))], vectors)
    store.save()
    store = EmbeddedStore(tmp_path, ann_threshold=1000)  # the graph is saved and reopened with the store
    assert store._ann is not None
    recall = []
    for q in vectors[:100] + 0.2 * rng.normal(size=(100, 64)).astype(np.float32):
        q /= np.linalg.norm(q)
        exact = {c.chunk_id for c, _ in store.search_exact(q, 10)}
        recall.append(len(exact & {c.chunk_id for c, _ in store.search(q, 10)}) / 10)
    assert np.mean(recall) >= 0.95, np.mean(recall)


def test_a_damaged_store_is_refused_and_left_alone(tmp_path, encoder, squad):
    Retriever(EmbeddedStore(tmp_path), encoder, warn=pytest.fail).index(squad[0][:2])
    vectors = next(tmp_path.glob("vectors.*.npy"))
    vectors.write_bytes(vectors.read_bytes()[:-100])  # cut short, as by a full disk
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(DataError, match="damaged.*nothing was changed"):
        EmbeddedStore(tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    (tmp_path / "store.json").write_text("{not json")
    with pytest.raises(DataError, match="store.json: line 1"):
        EmbeddedStore(tmp_path)


def test_an_unreachable_qdrant_url_is_one_clear_error():
    pytest.importorskip("qdrant_client")
    from lmforge.rag.qdrant import QdrantStore
    with pytest.raises(ConfigError, match="cannot reach Qdrant at http://127.0.0.1:9"):
        QdrantStore(url="http://127.0.0.1:9", timeout=2)
