"""Sentence pairs for translation: load a tab-separated pair file, normalise, split.

The file format is the Tatoeba / manythings.org export used by the classic
PyTorch seq2seq tutorial: one pair per line, ``source<TAB>target``, optionally a
third column (newer exports add an attribution there, which we ignore).

Text is normalised the same way on both sides and for the BLEU references, so a
translation is scored against exactly what the model could have produced:
lowercase, Unicode NFC, typographic apostrophes -> ``'``, and words split from
punctuation. French elisions stay attached to their apostrophe (``l'`` ``aide``)
and :func:`detokenize` glues them back, so ``detokenize(tokenize(s))`` is the
normalised sentence again.

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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmforge.errors import DataError
from lmforge.io import read_text

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


def normalize(text: str) -> str:
    """Lowercase, NFC, one kind of apostrophe, and every Unicode space (e.g. French U+202F) as ' '."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES).lower()
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Normalise and split into word and punctuation tokens: ``"L'aide !"`` -> ``["l'", "aide", "!"]``."""
    return _TOKEN.findall(normalize(text))


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
    """Distinct normalised sources (first-seen order) and, for each, all its normalised target translations.

    This is the input of a multi-reference BLEU: a translation is right if it
    matches any of the sentence's human translations.
    """
    refs: dict[str, list[str]] = {}
    for pair in pairs:
        refs.setdefault(normalize(pair.source), []).append(detokenize(tokenize(pair.target)))
    return list(refs), list(refs.values())


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """sacreBLEU corpus BLEU (13a tokenisation) with a variable number of references per sentence."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise DataError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    width = max((len(r) for r in references), default=1)
    # sacrebleu wants one stream per reference slot; None marks "this sentence has fewer references"
    streams = [[r[k] if k < len(r) else None for r in references] for k in range(width)]
    return sacrebleu.corpus_bleu(list(hypotheses), streams).score
