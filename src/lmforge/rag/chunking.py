"""Chunkers: a document -> overlapping pieces that remember where they came from.

Every chunk keeps its document id, source file and character offsets, so an answer's
``[1]`` citation resolves to ``file:start-end`` and ``chunk.text == document.text[start:end]``.

- :func:`chunk_sentences`: whole sentences (``text.split_sentences``) packed up to ``max_chars``,
  with the last ``overlap`` sentences repeated at the start of the next chunk;
- :func:`chunk_tokens`: windows of ``size`` word/punctuation tokens (``text.tokenize``), each
  starting ``size - overlap`` tokens after the previous one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lmforge.errors import ConfigError
from lmforge.rag.documents import Document
from lmforge.text.tokenize import split_sentences, tokenize

ChunkBy = Literal["sentences", "tokens"]


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    source: str
    start: int
    end: int
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def where(self) -> str:
        return f"{self.source}:{self.start}-{self.end}"


def _spans_to_chunks(doc: Document, spans: Sequence[tuple[int, int]]) -> list[Chunk]:
    return [Chunk(f"{doc.doc_id}@{start}", doc.doc_id, doc.source, start, end, doc.text[start:end],
                  {**doc.metadata, "digest": doc.digest}) for start, end in spans]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: ``split_sentences`` returns exact substrings, in order."""
    spans, pos = [], 0
    for sentence in split_sentences(text):
        start = text.index(sentence, pos)
        pos = start + len(sentence)
        spans.append((start, pos))
    return spans


def _windows(n: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """[first, last) item ranges of ``size`` items, consecutive ranges sharing ``overlap``."""
    if size < 1 or not 0 <= overlap < size:
        raise ConfigError(f"chunk size must be >= 1 and overlap in 0..size-1; got size={size}, overlap={overlap}")
    starts = range(0, max(n - overlap, 1), size - overlap)
    return [(s, min(s + size, n)) for s in starts if s < n]


def chunk_sentences(doc: Document, max_chars: int = 800, overlap: int = 1) -> list[Chunk]:
    """Sentences packed greedily into chunks of at most ``max_chars`` (a longer sentence is a chunk alone)."""
    if max_chars < 1 or overlap < 0:
        raise ConfigError(f"chunk size must be >= 1 and the sentence overlap >= 0; got size={max_chars}, "
                          f"overlap={overlap}")
    sentences = sentence_spans(doc.text)
    spans, first = [], 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1][1] - sentences[first][0] <= max_chars:
            last += 1
        spans.append((sentences[first][0], sentences[last][1]))
        if last + 1 >= len(sentences):
            break
        first = max(last + 1 - overlap, first + 1)  # always move on, even when one sentence fills a chunk
    return _spans_to_chunks(doc, spans)


def chunk_tokens(doc: Document, size: int = 128, overlap: int = 16) -> list[Chunk]:
    tokens = tokenize(doc.text)
    windows = _windows(len(tokens), size, overlap)
    return _spans_to_chunks(doc, [(tokens[first].start, tokens[last - 1].end) for first, last in windows])


def chunk_document(doc: Document, by: ChunkBy = "sentences", size: int | None = None,
                   overlap: int | None = None) -> list[Chunk]:
    """``by="sentences"``: ``size`` in characters (default 800), ``overlap`` in sentences (1);
    ``by="tokens"``: ``size`` and ``overlap`` in tokens (128, 16)."""
    if by == "sentences":
        return chunk_sentences(doc, size or 800, 1 if overlap is None else overlap)
    if by == "tokens":
        return chunk_tokens(doc, size or 128, 16 if overlap is None else overlap)
    raise ConfigError(f"chunk by 'sentences' or 'tokens', got {by!r}")
