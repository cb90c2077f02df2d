"""Rule lemmatizer (examples, with and without POS) and agreement with spaCy's lemmas on real text."""

from pathlib import Path

import pytest

from lmforge.errors import ConfigError
from lmforge.text import RuleLemmatizer, SpacyLemmatizer

YELP = Path(__file__).parents[1] / "data" / "sentiment" / "uci_sentiment_labelled" / "yelp_labelled.txt"
lemmatizer = RuleLemmatizer()


@pytest.mark.parametrize(
    "word,lemma",
    [
        ("running", "run"), ("hopping", "hop"), ("hoping", "hope"), ("making", "make"), ("used", "use"),
        ("tried", "try"), ("agreed", "agree"), ("danced", "dance"), ("changed", "change"), ("judged", "judge"),
        ("troubled", "trouble"), ("decided", "decide"), ("determined", "determine"), ("associated", "associate"),
        ("visited", "visit"), ("opened", "open"), ("called", "call"), ("missed", "miss"), ("played", "play"),
        ("went", "go"), ("was", "be"), ("were", "be"), ("is", "be"), ("has", "have"), ("did", "do"),
        ("seen", "see"), ("thought", "think"), ("ignored", "ignore"),
        ("movies", "movie"), ("stories", "story"), ("watches", "watch"), ("classes", "class"), ("cats", "cat"),
        ("children", "child"), ("mice", "mouse"), ("knives", "knife"), ("shoes", "shoe"), ("potatoes", "potato"),
        ("always", "always"), ("news", "news"), ("bus", "bus"), ("morning", "morning"), ("nothing", "nothing"),
        ("need", "need"), ("Better", "good"), ("n't", "not"), ("'re", "be"), ("ca", "can"), ("me", "I"),
        ("I", "I"), ("The", "the"), ("3.50", "3.50"), ("!", "!"),
    ],
)  # fmt: skip
def test_without_pos(word, lemma):
    assert lemmatizer.lemmatize(word) == lemma


@pytest.mark.parametrize(
    "word,pos,lemma",
    [
        ("building", "NOUN", "building"), ("building", "VERB", "build"), ("interesting", "ADJ", "interesting"),
        ("left", "ADJ", "left"), ("left", "VERB", "leave"), ("bigger", "ADJ", "big"), ("happiest", "ADJ", "happy"),
        ("larger", "ADJ", "large"), ("nicer", "ADJ", "nice"), ("finest", "ADJ", "fine"), ("faster", "ADV", "fast"),
        ("other", "ADJ", "other"), ("Smith", "PROPN", "Smith"), ("her", "PRON", "her"), ("An", "DET", "an"),
        ("saw", "NOUN", "saw"), ("saw", "VERB", "see"), ("na", "PART", "to"), ("feelings", "NOUN", "feeling"),
    ],
)  # fmt: skip
def test_with_pos(word, pos, lemma):
    assert lemmatizer.lemmatize(word, pos) == lemma


def test_clitic_s_depends_on_context_or_pos():
    assert lemmatizer.lemmatize_tokens(["it", "'s", "John", "'s", "let", "'s"]) == ["it", "be", "john", "'s",
                                                                                     "let", "us"]  # fmt: skip
    assert lemmatizer.lemmatize_tokens(["John", "'s"], ["PROPN", "AUX"]) == ["John", "be"]
    with pytest.raises(ConfigError, match="2 tokens but 1 POS"):
        lemmatizer.lemmatize_tokens(["a", "b"], ["X"])


@pytest.fixture(scope="module")
def spacy_sample():
    """(token, POS, spaCy lemma) for the first 300 Yelp review sentences."""
    lines = YELP.read_text(encoding="utf-8").split("\n")[:300]
    return SpacyLemmatizer().analyze("\n".join(line.rsplit("\t", 1)[0] for line in lines))


def test_agreement_with_spacy_lemmas(spacy_sample):
    words = [w for w, pos, _ in spacy_sample]
    gold = [lemma.lower() for _, _, lemma in spacy_sample]
    plain = lemmatizer.lemmatize_tokens(words)
    tagged = lemmatizer.lemmatize_tokens(words, [pos for _, pos, _ in spacy_sample])
    agree_plain = sum(a.lower() == g for a, g in zip(plain, gold, strict=True)) / len(gold)
    agree_tagged = sum(a.lower() == g for a, g in zip(tagged, gold, strict=True)) / len(gold)
    assert len(gold) > 3000
    assert agree_plain > 0.95 and agree_tagged > 0.97, (agree_plain, agree_tagged)
