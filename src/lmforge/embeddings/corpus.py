"""From raw text to the integer arrays the embedding trainers consume.

    text files --read--> str --paragraphs--> sentences (lists of lowercase words)
               --vocabulary (min_count)--> ids (N,) int32 + sentence ids (N,) int32

Word embeddings are learned from which words occur *near* each other, so the
only structure kept is "these words form one sentence": a context window never
crosses a sentence boundary. A "sentence" here is a paragraph (text between
blank lines). The bundled books are hard-wrapped at ~70 characters, so single
lines would cut most windows short; paragraphs are the natural unit.

Tokenizer: a small lowercase word regex of our own (letters, with inner
apostrophes such as ``don't`` or ``o'er``; digits and punctuation dropped).
It matches how the evaluation sets are written (lowercase single words) and
keeps this area independent of the general-purpose tokenizers.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmforge.assets import tinyshakespeare_path
from lmforge.errors import ConfigError, DataError
from lmforge.io import read_text

# A word: a run of letters (any script), optionally joined by apostrophes (’ included).
WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
PARAGRAPH_RE = re.compile(r"\n[ \t]*\n")

#: Files of the bundled Gutenberg folder that are not UTF-8, with their encoding. SOURCE.txt
#: there names caesar (``C\xe6sar``); chesterton-ball also has five Latin-1 bytes (``Bruneti\xe8re``,
#: ``Copp\xe9e``, ``Barr\xe8s``) although SOURCE.txt calls it ASCII. Every other file is read as
#: strict UTF-8, so an unexpected non-UTF-8 file still fails loudly with its byte offset.
KNOWN_ENCODINGS = {"shakespeare-caesar.txt": "latin-1", "chesterton-ball.txt": "latin-1"}
#: Files in the Gutenberg folder that are documentation, not books.
NOT_BOOKS = {"SOURCE.txt", "README_nltk_gutenberg.txt"}
GUTENBERG_ENV = "LMFORGE_GUTENBERG_DIR"


def tokenize(text: str) -> list[str]:
    """Lowercase words of ``text``: ``"Don't stop, 2 Men!"`` -> ``["don't", "stop", "men"]``."""
    return [w.replace("’", "'") for w in WORD_RE.findall(text.lower())]


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF, so blank-line paragraph breaks look the same in every file."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def text_to_sentences(text: str) -> list[list[str]]:
    """Split ``text`` into paragraphs and tokenize each; empty paragraphs are dropped."""
    sentences = (tokenize(p) for p in PARAGRAPH_RE.split(normalize_newlines(text)))
    return [s for s in sentences if s]


def read_corpus_file(path: str | os.PathLike[str], encoding: str | None = None) -> str:
    """Read one text file: strict UTF-8 (errors name the byte offset) unless ``encoding`` is given."""
    path = Path(path)
    if encoding is None:
        return read_text(path)
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    return path.read_bytes().decode(encoding)


def find_gutenberg_dir() -> Path:
    """Locate the shared Gutenberg books: ``$LMFORGE_GUTENBERG_DIR``, else ``shared/data/gutenberg``
    beside the repository (where a source checkout and CI keep it)."""
    repo_root = Path(__file__).resolve().parents[3]
    candidates = [Path(os.environ[GUTENBERG_ENV])] if os.environ.get(GUTENBERG_ENV) else []
    candidates.append(repo_root.parent / "shared" / "data" / "gutenberg")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise DataError(f"Gutenberg books not found (tried {tried}); set {GUTENBERG_ENV} or pass text files")


def gutenberg_files(directory: str | os.PathLike[str]) -> list[Path]:
    files = sorted(p for p in Path(directory).glob("*.txt") if p.name not in NOT_BOOKS)
    if not files:
        raise DataError(f"no .txt books in {directory}")
    return files


def read_gutenberg(directory: str | os.PathLike[str]) -> list[str]:
    """The books' texts, each decoded with its known encoding (see :data:`KNOWN_ENCODINGS`)."""
    return [read_corpus_file(p, KNOWN_ENCODINGS.get(p.name)) for p in gutenberg_files(directory)]


def bundled_texts(gutenberg_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The default training corpus: the Gutenberg books plus tinyshakespeare (~6 MB, ~1.1M words)."""
    directory = find_gutenberg_dir() if gutenberg_dir is None else Path(gutenberg_dir)
    return [*read_gutenberg(directory), read_text(tinyshakespeare_path())]


def texts_to_sentences(texts: Iterable[str]) -> list[list[str]]:
    return [s for text in texts for s in text_to_sentences(text)]


@dataclass(frozen=True)
class Vocab:
    """Words sorted by descending count (ties alphabetically), so id order is frequency order."""

    words: list[str]
    counts: np.ndarray  # (V,) int64

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index  # type: ignore[attr-defined]

    def id(self, word: str) -> int | None:
        return self.index.get(word)  # type: ignore[attr-defined]

    def to_json(self) -> dict:
        return {"words": self.words, "counts": self.counts.tolist()}

    @classmethod
    def from_json(cls, raw: dict, source: str = "vocab.json") -> Vocab:
        if not isinstance(raw, dict) or "words" not in raw or "counts" not in raw:
            raise DataError(f"{source}: expected an object with 'words' and 'counts' lists")
        if len(raw["words"]) != len(raw["counts"]):
            raise DataError(f"{source}: {len(raw['words'])} words but {len(raw['counts'])} counts")
        return cls(list(raw["words"]), np.asarray(raw["counts"], dtype=np.int64))


def build_vocab(sentences: Iterable[Sequence[str]], min_count: int = 5, max_size: int | None = None) -> Vocab:
    """Keep words seen at least ``min_count`` times (at most ``max_size`` of the most frequent)."""
    if min_count < 1:
        raise ConfigError(f"min_count must be >= 1, got {min_count}")
    counts = Counter(w for s in sentences for w in s)
    kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda wc: (-wc[1], wc[0]))
    kept = kept[:max_size] if max_size is not None else kept
    if not kept:
        raise DataError(f"the corpus has no word that occurs at least {min_count} times")
    return Vocab([w for w, _ in kept], np.array([c for _, c in kept], dtype=np.int64))


@dataclass(frozen=True)
class EncodedCorpus:
    """In-vocabulary word ids of the whole corpus and the sentence each belongs to.

    Out-of-vocabulary words are removed *before* windows are formed (as word2vec
    does), so a rare word does not use up a window slot.
    """

    ids: np.ndarray  # (N,) int32
    sentence: np.ndarray  # (N,) int32, non-decreasing

    def __len__(self) -> int:
        return len(self.ids)


def encode(sentences: Iterable[Sequence[str]], vocab: Vocab) -> EncodedCorpus:
    index = vocab.index  # type: ignore[attr-defined]
    ids: list[int] = []
    sentence: list[int] = []
    n = 0
    for s in sentences:
        kept = [index[w] for w in s if w in index]
        if kept:
            ids.extend(kept)
            sentence.extend([n] * len(kept))
            n += 1
    if not ids:
        raise DataError("no in-vocabulary words in the corpus")
    return EncodedCorpus(np.array(ids, dtype=np.int32), np.array(sentence, dtype=np.int32))
