"""Word tokenizer and sentence splitter."""

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.text import split_sentences, tokenize, word_tokenize


@pytest.mark.parametrize(
    "text,tokens",
    [
        ("Don't stop!", ["Do", "n't", "stop", "!"]),
        ("I'm sure it's John's, they've said we'll see; can't won't", ["I", "'m", "sure", "it", "'s", "John", "'s",
         ",", "they", "'ve", "said", "we", "'ll", "see", ";", "ca", "n't", "wo", "n't"]),
        ("i dont know, im gonna go", ["i", "do", "nt", "know", ",", "i", "m", "gon", "na", "go"]),
        ("It’s fine", ["It", "’s", "fine"]),
        ("He paid $3.50 for 1,000 items at 10:30.", ["He", "paid", "$", "3.50", "for", "1,000", "items", "at",
         "10:30", "."]),
        ("See https://example.com/a?b=1, or www.test.org.", ["See", "https://example.com/a?b=1", ",", "or",
         "www.test.org", "."]),
        ("Mail a.b+c@mail.co.uk now", ["Mail", "a.b+c@mail.co.uk", "now"]),
        ("Dr. Smith, e.g. in the U.S. today", ["Dr.", "Smith", ",", "e.g.", "in", "the", "U.S.", "today"]),
        ("state-of-the-art -- wait... ok", ["state", "-", "of", "-", "the", "-", "art", "--", "wait", "...", "ok"]),
        ("nice :) and (<3)", ["nice", ":)", "and", "(", "<", "3", ")"]),
        ("J. R. R. Tolkien", ["J.", "R.", "R.", "Tolkien"]),
        ("the students' books", ["the", "students", "'", "books"]),
        ("shouldn't've", ["should", "n't", "'ve"]),
        ("", []),
    ],
)  # fmt: skip
def test_examples(text, tokens):
    assert word_tokenize(text) == tokens


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab'’.,:;!?-$1 \n\"()éX@/")) | st.characters(), max_size=60))
def test_offsets_cover_every_visible_character(text):
    tokens = tokenize(text)
    covered = set()
    last_end = 0
    for t in tokens:
        assert text[t.start : t.end] == t.text and t.start >= last_end and t.end > t.start
        covered.update(range(t.start, t.end))
        last_end = t.end
    # "whitespace" as the tokenizer's regex sees it (Unicode White_Space; str.isspace also counts \x1c-\x1f)
    assert covered == {i for i, ch in enumerate(text) if not regex.fullmatch(r"\s", ch)}


@pytest.mark.parametrize(
    "text,sentences",
    [
        ("Dr. Smith arrived. He sat down! Did he? Yes.", ["Dr. Smith arrived.", "He sat down!", "Did he?", "Yes."]),
        ("We need e.g. apples. And pears.", ["We need e.g. apples.", "And pears."]),
        ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
        ('"Really?!" she asked. It was 3.5 m long.', ['"Really?!" she asked.', "It was 3.5 m long."]),
        ("They moved to the U.S. Later they left. Prices rose etc. and fell.",
         ["They moved to the U.S.", "Later they left.", "Prices rose etc. and fell."]),
        ("how r u? im fine... see you", ["how r u?", "im fine... see you"]),
        ("A title\n\nFirst paragraph without a period", ["A title", "First paragraph without a period"]),
        ("J. K. Rowling wrote it. (It sold.) Next", ["J. K. Rowling wrote it.", "(It sold.)", "Next"]),
        ("  spaced out.  ", ["spaced out."]),
        ("", []),
    ],
)  # fmt: skip
def test_sentences(text, sentences):
    assert split_sentences(text) == sentences
