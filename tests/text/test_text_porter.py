"""Porter stemmer: word-for-word identical to Porter's published output (tests/data/porter_stemmer)."""

import csv
from pathlib import Path

import pytest

from lmforge.text import PorterStemmer
from lmforge.text.porter import measure

PAIRS = Path(__file__).parents[1] / "data" / "porter_stemmer" / "porter_pairs_train.tsv"


@pytest.fixture(scope="module")
def rows():
    with PAIRS.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.mark.parametrize("mode,column", [("martin", "stem_martin"), ("original", "stem_original")])
def test_matches_every_official_pair(rows, mode, column):
    stemmer = PorterStemmer(mode)
    wrong = [(r["word"], stemmer.stem(r["word"]), r[column]) for r in rows if stemmer.stem(r["word"]) != r[column]]
    assert len(rows) == 18_824
    assert wrong == []


def test_the_modes_really_differ(rows):
    """The data must be able to catch a mode mix-up: some words stem differently per variant."""
    martin, original = PorterStemmer("martin"), PorterStemmer("original")
    assert any(martin.stem(r["word"]) != original.stem(r["word"]) for r in rows)
    assert martin.stem("apology") == "apolog" and original.stem("apology") == "apologi"  # -logi rule
    assert martin.stem("as") == "as" and original.stem("as") == "a"  # short words untouched in Martin's


@pytest.mark.parametrize(
    "word,m", [("tr", 0), ("ee", 0), ("tree", 0), ("by", 0), ("trouble", 1), ("oats", 1), ("ivy", 1),
               ("troubles", 2), ("private", 2), ("oaten", 2)],
)  # fmt: skip
def test_measure_examples_from_the_paper(word, m):
    assert measure(word) == m


def test_examples_and_case():
    s = PorterStemmer()
    assert [s.stem(w) for w in ["Caresses", "ponies", "hopping", "relational", "generalizations"]] == [
        "caress", "poni", "hop", "relat", "gener",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown Porter mode"):
        PorterStemmer("nltk")
