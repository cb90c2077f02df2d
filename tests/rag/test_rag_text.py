"""Loaders, chunkers, BM25 (= rank-bm25's BM25Okapi) and rank fusion: no model needed."""

import numpy as np
import pytest

from lmforge.rag.bm25 import BM25, bm25_terms
from lmforge.rag.chunking import chunk_sentences, chunk_tokens
from lmforge.rag.documents import Document, load_documents
from lmforge.rag.retriever import reciprocal_rank_fusion


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text``, with a correct cross-reference table (so any reader opens it)."""
    stream = f"BT /F1 12 Tf 10 50 Td ({text}) Tj ET".encode()
    objects = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
               b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 100]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
               b"<</Length %d>>stream\n%s\nendstream" % (len(stream), stream),
               b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj%s endobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_bm25_scores_equal_rank_bm25(squad):
    rank_bm25 = pytest.importorskip("rank_bm25")
    docs, questions = squad
    corpus = [bm25_terms(d.text) for d in docs] + [["super", "bowl"]] * 8  # common terms: negative idf floor
    ours, theirs = BM25(corpus), rank_bm25.BM25Okapi(corpus)
    for question, _ in questions[::5] + [("super bowl super", None)]:
        query = bm25_terms(question)
        np.testing.assert_allclose(ours.scores(query), theirs.get_scores(query), rtol=1e-12, atol=1e-12)
    query = bm25_terms("Which NFL team represented the AFC at Super Bowl 50?")
    assert [i for i, _ in ours.top_k(query, 3)] == list(np.argsort(-theirs.get_scores(query), kind="stable")[:3])


def test_loaders_read_each_format_and_skip_bad_files_with_a_warning(tmp_path):
    pytest.importorskip("pypdf")
    (tmp_path / "a.txt").write_text("Plain text.")
    (tmp_path / "b.md").write_text("# Title\n\nSome *markdown*.")
    (tmp_path / "c.html").write_text("<html><head><title>t</title><script>var x;</script></head>"
                                     "<body><p>Visible &amp; kept.</p><p>Second.</p></body></html>")
    (tmp_path / "d.jsonl").write_text('{"id": "x1", "text": "first row", "lang": "en"}\n{"text": "second row"}\n')
    (tmp_path / "e.pdf").write_bytes(tiny_pdf("Hello from a PDF"))
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    warnings = []
    docs = {d.doc_id: d for d in load_documents([tmp_path], warn=warnings.append)}
    assert docs[str(tmp_path / "c.html")].text == "Visible & kept.\n\nSecond."
    assert docs[f"{tmp_path / 'd.jsonl'}#x1"].metadata == {"lang": "en"} and f"{tmp_path / 'd.jsonl'}#2" in docs
    assert docs[str(tmp_path / "e.pdf")].text.strip() == "Hello from a PDF"
    assert len(docs) == 6
    assert len(warnings) == 2 and "empty.txt" in warnings[0] and "latin1.txt" in warnings[1]


@pytest.mark.parametrize("chunker", [lambda d: chunk_sentences(d, max_chars=300, overlap=1),
                                     lambda d: chunk_tokens(d, size=40, overlap=8)])
def test_chunks_keep_offsets_and_overlap(chunker, squad):
    doc = squad[0][0]
    chunks = chunker(doc)
    assert len(chunks) > 2
    pairs = list(zip(chunks, chunks[1:], strict=False))
    assert all(a.start < b.start <= a.end + 1 for a, b in pairs)  # in order, no text left out
    assert sum(b.start < a.end for a, b in pairs) >= len(pairs) // 2  # and they overlap (one-sentence chunks can't)
    for c in chunks:
        assert c.text == doc.text[c.start:c.end] and c.source == doc.source and c.metadata["title"] == doc.metadata[
            "title"]
    assert chunks[0].start == 0 and chunks[-1].end == len(doc.text.rstrip())


def test_a_sentence_longer_than_the_chunk_is_a_chunk_alone():
    doc = Document("d", "d.txt", "Short one. " + "A very long sentence " * 20 + "ends here. Tail.")
    chunks = chunk_sentences(doc, max_chars=50, overlap=1)
    assert [c.text[:10] for c in chunks] == ["Short one.", "A very lon", "Tail."]


def test_reciprocal_rank_fusion_prefers_agreement():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "d", "a"]])
    assert [key for key, _ in fused] == ["b", "a", "d", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)
