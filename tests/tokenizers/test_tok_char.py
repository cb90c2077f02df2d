"""Char-level tokenizer: vocab, unknown characters, specials, HF parity, files."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.errors import ConfigError, DataError, LmforgeError
from lmforge.tokenizers import CharTokenizer, load_tokenizer


@pytest.fixture(scope="module")
def char_tok(corpus) -> CharTokenizer:
    return CharTokenizer.train(corpus)


def test_vocab_is_sorted_distinct_chars_then_specials(char_tok, corpus):
    alphabet = sorted(set(corpus))
    assert char_tok.chars == alphabet
    assert len(alphabet) == 65  # tinyshakespeare's classic 65-character alphabet
    assert char_tok.encode("\n !") == [0, 1, 2]
    assert char_tok.special_tokens == {"<|endoftext|>": 65}
    assert char_tok.vocab_size == 66 and char_tok.eos_id == 65


def test_round_trip_on_corpus(char_tok, corpus):
    ids = char_tok.encode(corpus)
    assert len(ids) == len(corpus)
    assert char_tok.decode(ids) == corpus


def test_unknown_char_names_char_and_position(char_tok):
    with pytest.raises(LmforgeError, match=r"character 'é' \(U\+00E9\) at position 3 is not in"):
        char_tok.encode("cafés")
    # positions count special tokens in the original text
    with pytest.raises(LmforgeError, match="'~' .* at position 16"):
        char_tok.encode("ab<|endoftext|>c~", allowed_special="all")


def test_special_tokens(char_tok):
    text = "To be<|endoftext|>"
    assert char_tok.encode(text, allowed_special="all") == [*char_tok.encode("To be"), 65]
    # not allowed: the special string is plain text, and tinyshakespeare has no '<'
    assert "<" not in char_tok.chars
    with pytest.raises(LmforgeError, match="character '<'"):
        char_tok.encode(text)


def test_special_chars_in_corpus_are_in_vocab():
    tok = CharTokenizer.train("ab<|endoftext|>ba")
    assert tok.decode(tok.encode("a<|endoftext|>")) == "a<|endoftext|>"
    assert tok.encode("<|endoftext|>", allowed_special="all") == [tok.eos_id]
    assert len(tok.encode("<|endoftext|>")) == len("<|endoftext|>")


def test_hf_parity_on_whole_corpus(char_tok, corpus, tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    char_tok.save(tmp_path / "tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    ids = char_tok.encode(corpus)
    assert hf.encode(corpus).ids == ids
    assert hf.decode(ids[:3000]) == corpus[:3000]
    text = "First<|endoftext|>Citizen"
    assert hf.encode(text).ids == char_tok.encode(text, allowed_special="all")


def test_save_load_round_trip(char_tok, tmp_path):
    char_tok.save(tmp_path / "tokenizer.json")
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert isinstance(loaded, CharTokenizer)
    assert loaded.chars == char_tok.chars and loaded.special_tokens == char_tok.special_tokens
    assert loaded.encode("Hello, world!") == char_tok.encode("Hello, world!")


def test_decode_bad_ids(char_tok):
    with pytest.raises(LmforgeError, match=r"token id 66 at position 2 .*valid ids are 0\.\.65"):
        char_tok.decode([1, 2, 66])
    with pytest.raises(LmforgeError, match="token id -3"):
        char_tok.decode([-3])


def test_errors():
    with pytest.raises(DataError, match="empty"):
        CharTokenizer.train("")
    with pytest.raises(DataError, match="empty"):
        CharTokenizer.train(["", ""])
    with pytest.raises(ConfigError, match="single characters"):
        CharTokenizer({"ab": 0})
    with pytest.raises(ConfigError, match="already uses"):
        CharTokenizer({"a": 0}, {"<|endoftext|>": 0})


@settings(max_examples=150, deadline=None)
@given(st.text(min_size=1), st.data())
def test_round_trip_over_alphabet(alphabet, data):
    tok = CharTokenizer.train(alphabet)
    text = data.draw(st.text(alphabet=sorted(set(alphabet))))
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
