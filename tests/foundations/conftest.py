"""Fixtures for the foundations tests: the digits split and the bundled UCI sentiment sentences."""

from pathlib import Path

import pytest

from lmforge.classic.data import read_labeled
from lmforge.foundations.data import Split, digits

UCI = Path(__file__).parents[1] / "data" / "sentiment" / "uci_sentiment_labelled"


@pytest.fixture(scope="session")
def digit_split() -> Split:
    return digits(test_fraction=0.2, seed=0)


@pytest.fixture(scope="session")
def uci_sentiment() -> tuple[list[str], list[str]]:
    """2,700 review sentences (amazon, imdb, yelp; see tests/data/sentiment/SOURCE.txt), labels "0"/"1"."""
    texts, labels = [], []
    for name in ("amazon_cells", "imdb", "yelp"):
        data = read_labeled(UCI / f"{name}_labelled.txt", text_col="0", label_col="1", header=False)
        texts += data.texts
        labels += data.labels
    return texts, labels
