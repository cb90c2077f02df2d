"""Fixtures for the classic-NLP tests: the bundled labeled sentiment data (see tests/data/sentiment/SOURCE.txt)."""

from pathlib import Path

import pytest

SENTIMENT = Path(__file__).parents[1] / "data" / "sentiment"
UCI = SENTIMENT / "uci_sentiment_labelled"
SMS = SENTIMENT / "sms_spam" / "SMSSpamCollection"


def read_tab_file(path: Path, label_first: bool) -> tuple[list[str], list[str]]:
    """(texts, labels) of a tab-separated file without header (split at "\\n" only: U+0085 occurs in texts)."""
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line:
            a, b = line.split("\t", 1) if label_first else line.rsplit("\t", 1)
            texts.append(b if label_first else a)
            labels.append(a if label_first else b)
    return texts, labels


@pytest.fixture(scope="session")
def uci_sentiment() -> tuple[list[str], list[str]]:
    """2,700 review sentences (amazon, imdb, yelp) with labels "0"/"1"."""
    texts, labels = [], []
    for name in ("amazon_cells", "imdb", "yelp"):
        t, l = read_tab_file(UCI / f"{name}_labelled.txt", label_first=False)
        texts += t
        labels += l
    return texts, labels


@pytest.fixture(scope="session")
def sms_spam() -> tuple[list[str], list[str]]:
    """5,574 SMS messages labeled "ham"/"spam"."""
    return read_tab_file(SMS, label_first=True)
