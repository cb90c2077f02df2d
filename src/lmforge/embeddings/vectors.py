"""Word vectors as a lookup table: neighbours, analogies, and standard file formats.

Similarity is cosine similarity, ``cos(x, y) = x·y / (|x| |y|)``: the direction of
a vector carries the meaning, its length mostly reflects word frequency. So the
table keeps a unit-normalised copy and every query is a matrix-vector product.

Files (never pickle):

- a folder with ``vectors.safetensors`` (one tensor ``"vectors"``, (V, D) float32)
  and ``vocab.json`` (``{"words": [...], "counts": [...]}``);
- the word2vec text format (``"V D"`` header, then ``word x1 ... xD`` per line),
  which gensim, fastText and most tools read; the binary variant (``word`` + raw float32)
  is read too, because that is how many published vectors come.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import safetensors.torch
import torch

from lmforge.errors import DataError
from lmforge.io import atomic_write, read_json, read_safetensors, write_json

VECTORS_FILE = "vectors.safetensors"
VOCAB_FILE = "vocab.json"


class WordVectors:
    """``words[i]`` has vector ``vectors[i]``; words are expected in descending frequency order."""

    def __init__(self, words: Sequence[str], vectors: torch.Tensor | np.ndarray,
                 counts: Sequence[int] | None = None) -> None:
        vectors = torch.as_tensor(np.asarray(vectors, dtype=np.float32))
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise DataError(f"need one vector per word: {len(words)} words but vectors of shape "
                            f"{tuple(vectors.shape)}")
        self.words = list(words)
        self.vectors = vectors  # (V, D)
        self.counts = None if counts is None else np.asarray(counts, dtype=np.int64)
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise DataError("the vocabulary has duplicate words")
        norms = vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)
        self.unit = vectors / norms  # (V, D), each row of length 1

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def has_vector(self, word: str) -> bool:
        """Whether :meth:`vector` can answer for ``word`` (FastText: also for unseen words)."""
        return word in self.index

    def vector(self, word: str) -> torch.Tensor:
        """(D,) vector of ``word``; unknown words are an error here (FastText overrides this)."""
        if word not in self.index:
            raise DataError(f"{word!r} is not in the vocabulary ({len(self)} words)")
        return self.vectors[self.index[word]]

    def _unit_query(self, word: str) -> torch.Tensor:
        if word in self.index:
            return self.unit[self.index[word]]
        v = self.vector(word)
        return v / v.norm().clamp(min=1e-12)

    def similarity(self, a: str, b: str) -> float:
        return float(self._unit_query(a) @ self._unit_query(b))

    def nearest(self, query: torch.Tensor, topn: int = 10, exclude: Sequence[str] = (),
                restrict: int | None = None) -> list[tuple[str, float]]:
        """The ``topn`` words most cosine-similar to the (D,) ``query``, skipping ``exclude``."""
        table = self.unit[:restrict] if restrict else self.unit
        scores = table @ (query / query.norm().clamp(min=1e-12))  # (V,)
        for word in exclude:
            if word in self.index and self.index[word] < len(table):
                scores[self.index[word]] = -float("inf")
        top = torch.topk(scores, min(topn, len(table) - len(exclude)))
        return [(self.words[i], float(s)) for s, i in zip(top.values, top.indices.tolist(), strict=True)]

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        return self.nearest(self._unit_query(word), topn, exclude=[word])

    def analogy(self, a: str, b: str, c: str, topn: int = 1) -> list[tuple[str, float]]:
        """a : b :: c : ? by 3CosAdd: the word x maximising cos(x, b) - cos(x, a) + cos(x, c).

        Equivalently the nearest word to ``b̂ - â + ĉ`` (unit vectors); a, b and c
        themselves are excluded, as in the original evaluation.
        """
        query = self._unit_query(b) - self._unit_query(a) + self._unit_query(c)
        return self.nearest(query, topn, exclude=[a, b, c])

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike[str]) -> None:
        """Write ``vectors.safetensors`` + ``vocab.json`` into ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_write(directory / VECTORS_FILE, "wb") as f:
            f.write(safetensors.torch.save({"vectors": self.vectors.contiguous()}))
        counts = self.counts.tolist() if self.counts is not None else [0] * len(self)
        write_json(directory / VOCAB_FILE, {"words": self.words, "counts": counts})

    def save_word2vec_text(self, path: str | os.PathLike[str]) -> None:
        """The word2vec text format; words containing whitespace cannot be written in it."""
        bad = [w for w in self.words if not w or any(ch.isspace() for ch in w)]
        if bad:
            raise DataError(f"word2vec text format cannot store words with whitespace, e.g. {bad[0]!r}")
        with atomic_write(path) as f:
            f.write(f"{len(self)} {self.dim}\n")
            rows = self.vectors.numpy()
            for word, row in zip(self.words, rows, strict=True):
                f.write(word + " " + " ".join(f"{x:.6g}" for x in row) + "\n")


def load_word2vec(path: str | os.PathLike[str]) -> WordVectors:
    """Read a word2vec file, text or binary: both start with the same ``"V D"`` line, so the
    first record tells them apart. Errors name the line (text) or the byte offset (binary)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    with path.open("rb") as f:
        header = f.readline()
        fields = header.split()
        if len(fields) != 2 or not all(h.isdigit() for h in fields):
            shown = header[:60].decode("utf-8", errors="replace").strip()
            raise DataError(f"{path}: line 1: expected the word2vec header 'VOCAB_SIZE DIM', got {shown!r}")
        n, dim = map(int, fields)
        is_text = _first_record_is_text(f.read(256 + 32 * dim), dim)
        f.seek(len(header))
        if is_text:
            return _parse_text(path, f, n, dim)  # streamed line by line: text files can be large
        body = f.read()
    return _parse_binary(path, body, len(header), n, dim)


def _first_record_is_text(body: bytes, dim: int) -> bool:
    """Whether the first record is ``word x1 ... xD`` in text. In the binary format the word is
    followed by raw float32 bytes, which essentially never read as ``dim`` numbers and a newline."""
    line, newline, _ = body[: 256 + 32 * dim].partition(b"\n")
    parts = line.split(b" ")
    if not newline or len(parts) != dim + 1:
        return False
    try:
        np.array(parts[1:], dtype=np.float32)
    except ValueError:
        return False
    return True


def _parse_text(path: Path, lines: Iterable[bytes], n: int, dim: int) -> WordVectors:
    words, rows = [], np.empty((n, dim), dtype=np.float32)
    for lineno, raw in enumerate(lines, start=2):
        try:
            parts = raw.rstrip(b"\r\n").decode("utf-8").split(" ")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: line {lineno}, column {e.start + 1}: not valid UTF-8") from None
        if len(parts) != dim + 1:
            raise DataError(f"{path}: line {lineno}: expected a word and {dim} numbers, got {len(parts)} fields")
        if len(words) == n:
            raise DataError(f"{path}: line {lineno}: more rows than the {n} announced in the header")
        try:
            rows[len(words)] = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            raise DataError(f"{path}: line {lineno}: not a number in the vector of {parts[0]!r}") from None
        words.append(parts[0])
    if len(words) != n:
        raise DataError(f"{path}: the header announces {n} words but the file has {len(words)}")
    return WordVectors(words, rows)


def _parse_binary(path: Path, body: bytes, offset: int, n: int, dim: int) -> WordVectors:
    """Records ``word<space>`` + ``dim`` little-endian float32; word2vec.c ends each with a newline,
    gensim's ``save_word2vec_format(binary=True)`` does not. ``offset``: where ``body`` starts in the file."""
    what = f"{path}: binary word2vec file ({n} words of {dim} float32 announced)"
    words, rows = [], np.empty((n, dim), dtype=np.float32)
    pos, size = 0, 4 * dim
    while len(words) < n:
        while body[pos : pos + 1] == b"\n":
            pos += 1
        space = body.find(b" ", pos)
        if space == -1 or len(body) - (space + 1) < size:
            raise DataError(f"{what}: the file ends after {len(words)} words")
        try:
            words.append(body[pos:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise DataError(f"{what}: byte offset {offset + pos}: word {len(words) + 1} is not valid UTF-8") from None
        rows[len(words) - 1] = np.frombuffer(body, dtype="<f4", count=dim, offset=space + 1)
        pos = space + 1 + size
    if body[pos:].strip(b"\n"):
        raise DataError(f"{what}: byte offset {offset + pos}: {len(body) - pos} bytes after the last word")
    return WordVectors(words, rows)


def load_vector_folder(directory: str | os.PathLike[str]) -> WordVectors:
    directory = Path(directory)
    vocab = read_json(directory / VOCAB_FILE, "vocabulary")
    if not (directory / VECTORS_FILE).is_file():
        raise DataError(f"{directory}: expected {VECTORS_FILE} beside {VOCAB_FILE}")
    tensors = read_safetensors(directory / VECTORS_FILE, "word vectors")
    if "vectors" not in tensors:
        raise DataError(f"{directory / VECTORS_FILE}: no tensor named 'vectors' (found {sorted(tensors)})")
    return WordVectors(vocab.get("words", []), tensors["vectors"], vocab.get("counts"))
