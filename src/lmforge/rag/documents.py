"""Loaders: files -> documents (id, source file, text), skipping what cannot be read with a warning.

Formats: ``.txt`` and ``.md`` as they are; ``.html``/``.htm`` as visible text (scripts and styles
dropped); ``.jsonl`` one document per line (its ``"text"`` field, an ``"id"`` if given, other
fields kept as metadata); ``.pdf`` page text through ``pypdf`` when it is installed. Folders are
walked for those suffixes. A document's id is its resolved file path (plus ``#id`` or ``#line`` for JSONL
rows), so indexing the same files again, from any folder, replaces their chunks instead of adding copies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from lmforge.errors import DataError
from lmforge.io import read_json_lines, read_text

SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl", ".pdf")
Warn = Callable[[str], None]


@dataclass
class Document:
    doc_id: str
    source: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Content hash: re-indexing an unchanged document can be skipped."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


class _VisibleText(HTMLParser):
    _HIDDEN = frozenset({"script", "style", "head", "noscript", "template"})
    _BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in self._HIDDEN
        if tag in self._BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in self._HIDDEN and self._hidden > 0

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    paragraphs = (" ".join(p.split()) for p in "".join(parser.parts).split("\n\n"))
    return "\n\n".join(p for p in paragraphs if p)


def _pdf_text(path: Path) -> str:
    try:
        import pypdf
    except ImportError:
        raise DataError(f"{path}: reading PDF needs pypdf (pip install pypdf)") from None
    try:
        return "\n\n".join(page.extract_text() or "" for page in pypdf.PdfReader(path).pages)
    except Exception as e:  # pypdf raises many types for damaged files
        raise DataError(f"{path}: not a readable PDF ({type(e).__name__}: {e})") from None


def _file_documents(path: Path) -> list[Document]:
    """The documents of one file; ids use the resolved path, so re-indexing from another folder replaces them."""
    suffix, key = path.suffix.lower(), str(path.resolve())
    if suffix == ".jsonl":
        docs = []
        for line, row in read_json_lines(path):
            if not isinstance(row.get("text"), str):
                raise DataError(f'{path}: line {line}: expected a "text" string field')
            meta = {k: v for k, v in row.items() if k not in ("text", "id")}
            docs.append(Document(f"{key}#{row.get('id', line)}", str(path), row["text"], meta))
        return docs
    if suffix == ".pdf":
        text = _pdf_text(path)
    else:
        text = read_text(path)
        if suffix in (".html", ".htm"):
            text = html_to_text(text)
    return [Document(key, str(path), text)]


def _files(paths: Iterable[str | Path]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise DataError(f"{path}: no such file or folder")


def load_documents(paths: Iterable[str | Path], warn: Warn) -> list[Document]:
    """Every document under ``paths``; empty, undecodable or unsupported files are skipped with ``warn``."""
    docs = []
    for path in _files(paths):
        if path.suffix.lower() not in SUFFIXES:
            warn(f"{path}: skipped: not one of {', '.join(SUFFIXES)}")
            continue
        try:
            found = [d for d in _file_documents(path) if d.text.strip()]
        except DataError as e:
            warn(f"skipped: {e}")
            continue
        if not found:
            warn(f"{path}: skipped: no text in it")
        docs.extend(found)
    return docs
