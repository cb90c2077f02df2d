"""Sentence pairs for translation: load a tab-separated pair file, normalise, split.

The file format is the Tatoeba / manythings.org export used by the classic
PyTorch seq2seq tutorial: one pair per line, ``source<TAB>target``, optionally a
third column (newer exports add an attribution there, which we ignore).

Models read and write normalised text: lowercase, Unicode NFC, typographic
apostrophes -> ``'``, and words split from punctuation. French elisions stay
attached to their apostrophe (``l'`` ``aide``) and :func:`detokenize` glues them
back, so ``detokenize(tokenize(s))`` is the normalised sentence again.
Lowercasing halves what a small model must learn ("Je" and "je" are one word),
and a :class:`Truecaser` learned from the training targets puts the capitals
back, so output is cased French and BLEU is scored, as standard sacreBLEU is,
against the original (cased) reference sentences.

The split is by *source sentence*: Tatoeba often has several translations of
the same English sentence, and putting one in train and another in test would
let the model pass the test by memory. :func:`split_pairs` is deterministic for
a seed, and is what every translation model in lmforge (GRU seq2seq, Transformer
encoder-decoder) is trained and scored on, so their BLEU scores compare.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from lmforge.errors import DataError
from lmforge.io import read_text

#: Tokens after which a new sentence starts, so the next word is capitalised.
_SENTENCE_ENDS = {".", "!", "?"}
#: A word with its trailing elision apostrophe (``l'``, ``qu'``), a plain word, or one punctuation mark.
_TOKEN = re.compile(r"\w+'|\w+|[^\w\s]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_GLUE_BOTH = {"-"}  # hyphenated words (``as-tu``) are written without spaces around the hyphen
_GLUE_LEFT = {".", ",", ")"}  # no space before these; French does put one before ! ? : ; (as in the data)


@dataclass(frozen=True)
class Pair:
    source: str
    target: str
    line: int  # 1-based line in the file it came from, for error messages and debugging


@dataclass(frozen=True)
class Split:
    train: list[Pair]
    dev: list[Pair]
    test: list[Pair]


def load_pairs(path: str | Path, limit: int | None = None) -> list[Pair]:
    """Read ``source<TAB>target[<TAB>attribution]`` lines; blank lines are skipped.

    A line without a tab, with an empty side, or with more than three columns is
    an error naming the file and line: guessing which tab was meant would
    silently pair the wrong sentences.
    """
    path = Path(path)
    pairs: list[Pair] = []
    for number, raw in enumerate(read_text(path).splitlines(), start=1):
        if not raw.strip():
            continue
        columns = raw.split("\t")
        if len(columns) < 2:
            raise DataError(f"{path}: line {number}: expected 'source<TAB>target' but found no tab: {raw[:60]!r}")
        if len(columns) > 3:
            raise DataError(f"{path}: line {number}: expected 2 tab-separated columns (or 3 with an attribution), "
                            f"found {len(columns)}")
        source, target = columns[0].strip(), columns[1].strip()
        if not source or not target:
            side = "source (column 1)" if not source else "target (column 2)"
            raise DataError(f"{path}: line {number}: the {side} is empty")
        pairs.append(Pair(source, target, number))
        if limit is not None and len(pairs) >= limit:
            break
    if not pairs:
        raise DataError(f"{path}: no sentence pairs found (expected 'source<TAB>target' lines)")
    return pairs


def normalize(text: str, lowercase: bool = True) -> str:
    """NFC, one kind of apostrophe, every Unicode space (e.g. French U+202F) as ' ', and lowercase unless told."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    return " ".join((text.lower() if lowercase else text).split())


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Normalise and split into word and punctuation tokens: ``"L'aide !"`` -> ``["l'", "aide", "!"]``."""
    return _TOKEN.findall(normalize(text, lowercase))


def detokenize(tokens: Sequence[str]) -> str:
    """Join tokens with spaces, except after an elision apostrophe or "(", before ". , )", and around hyphens."""
    out: list[str] = []
    for i, token in enumerate(tokens):
        previous = tokens[i - 1] if i else ""
        glued = previous.endswith("'") or previous in _GLUE_BOTH or previous == "(" or token in _GLUE_BOTH | _GLUE_LEFT
        if i > 0 and not glued:
            out.append(" ")
        out.append(token)
    return "".join(out)


class Truecaser:
    """Puts capitals back into lowercased tokens: ``["je", "vois", "tom", "."]`` -> ``["Je", "vois", "Tom", "."]``.

    Learned from cased training sentences: each word is written in the form it
    most often has *inside* a sentence (where its capital is its own, as in
    "Tom" or "Paris", not the sentence's); the first word and every word after
    ``. ! ?`` get a capital first letter. A word never seen inside a sentence
    stays as the model wrote it.
    """

    def __init__(self, forms: dict[str, str]) -> None:
        self.forms = forms  # lowercase word -> its usual written form; only words whose form is not all-lowercase

    @classmethod
    def learn(cls, sentences: Iterable[Sequence[str]]) -> Truecaser:
        """From tokenised cased sentences (``tokenize(text, lowercase=False)``); ties go to the form seen first."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for tokens in sentences:
            for previous, token in pairwise(tokens):
                if previous not in _SENTENCE_ENDS:
                    counts[token.lower()][token] += 1
        usual = {word: forms.most_common(1)[0][0] for word, forms in counts.items()}
        return cls({word: form for word, form in usual.items() if form != word})

    @classmethod
    def from_targets(cls, pairs: Iterable[Pair]) -> Truecaser:
        """Learned from the cased target sentences of (training) pairs."""
        return cls.learn(tokenize(p.target, lowercase=False) for p in pairs)

    def __call__(self, tokens: Sequence[str]) -> list[str]:
        out = [self.forms.get(token, token) for token in tokens]
        for i, token in enumerate(out):
            if i == 0 or out[i - 1] in _SENTENCE_ENDS:
                out[i] = token[:1].upper() + token[1:]
        return out


def split_pairs(pairs: Sequence[Pair], dev: float = 0.1, test: float = 0.1, seed: int = 0) -> Split:
    """Shuffle the distinct source sentences with ``seed`` and cut them into train/dev/test.

    All translations of one source sentence land in the same part (no leakage).
    Within each part, pairs keep their file order.
    """
    if dev < 0 or test < 0 or dev + test >= 1:
        raise DataError(f"dev and test fractions must be >= 0 and sum to < 1 (got dev={dev}, test={test})")
    sources = sorted({normalize(p.source) for p in pairs})
    random.Random(seed).shuffle(sources)
    n_test, n_dev = round(len(sources) * test), round(len(sources) * dev)
    part_of = {s: "test" for s in sources[:n_test]}
    part_of.update({s: "dev" for s in sources[n_test : n_test + n_dev]})
    parts: dict[str, list[Pair]] = {"train": [], "dev": [], "test": []}
    for pair in pairs:
        parts[part_of.get(normalize(pair.source), "train")].append(pair)
    if not parts["train"]:
        raise DataError(f"only {len(sources)} distinct source sentences: too few to split into train/dev/test")
    return Split(**parts)


def references_by_source(pairs: Sequence[Pair]) -> tuple[list[str], list[list[str]]]:
    """Distinct normalised sources (first-seen order) and, for each, all its target translations as written.

    This is the input of a multi-reference BLEU: a translation is right if it
    matches any of the sentence's human translations. The references are the
    original sentences, capitals included: scoring against normalised ones
    would hide every casing error (the standard sacreBLEU score is cased).
    """
    refs: dict[str, list[str]] = {}
    for pair in pairs:
        refs.setdefault(normalize(pair.source), []).append(pair.target)
    return list(refs), list(refs.values())
