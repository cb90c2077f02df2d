"""The building blocks: GPT-2 regex, byte<->unicode table, special-token splitting."""

from __future__ import annotations

import pytest

from lmforge.errors import LmforgeError
from lmforge.tokenizers.pretokenize import (
    bytes_to_token_str,
    bytes_to_unicode,
    gpt2_split,
    resolve_allowed_special,
    split_special,
    token_str_to_bytes,
)


def test_byte_table_is_a_bijection_onto_printable_chars():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in table.values())
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[ord("a")] == "a"


def test_byte_table_matches_hf_alphabet():
    tokenizers = pytest.importorskip("tokenizers")
    assert set(bytes_to_unicode().values()) == set(tokenizers.pre_tokenizers.ByteLevel.alphabet())


def test_token_str_round_trip():
    data = bytes(range(256))
    assert token_str_to_bytes(bytes_to_token_str(data)) == data
    assert token_str_to_bytes("Ġthe") == b" the"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hello world!", ["Hello", " world", "!"]),
        ("it's we'll", ["it", "'s", " we", "'ll"]),
        ("a  b", ["a", " ", " b"]),
        ("x\n\n  y", ["x", "\n\n ", " y"]),
        ("trailing   ", ["trailing", "   "]),
        ("abc123 4.5", ["abc", "123", " 4", ".", "5"]),
    ],
)
def test_gpt2_split(text, words):
    assert gpt2_split(text) == words
    assert "".join(words) == text


def test_gpt2_split_matches_hf_bytelevel(corpus):
    tokenizers = pytest.importorskip("tokenizers")
    hf = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    sample = corpus[:20_000]
    hf_words = [token_str_to_bytes(w).decode() for w, _ in hf.pre_tokenize_str(sample)]
    assert gpt2_split(sample) == hf_words


def test_split_special():
    allowed = frozenset({"<|endoftext|>", "<|end|>"})
    assert list(split_special("a<|endoftext|>b<|end|>", allowed)) == [
        ("a", False),
        ("<|endoftext|>", True),
        ("b", False),
        ("<|end|>", True),
    ]
    assert list(split_special("a<|endoftext|>", frozenset())) == [("a<|endoftext|>", False)]
    assert list(split_special("", allowed)) == []


def test_resolve_allowed_special():
    specials = {"<|endoftext|>": 1, "<|pad|>": 2}
    assert resolve_allowed_special("all", specials) == set(specials)
    assert resolve_allowed_special("none", specials) == set()
    assert resolve_allowed_special({"<|pad|>"}, specials) == {"<|pad|>"}
    with pytest.raises(LmforgeError, match="<|nope|>"):
        resolve_allowed_special({"<|nope|>"}, specials)
    with pytest.raises(LmforgeError, match="'all', 'none' or a set"):
        resolve_allowed_special("<|pad|>", specials)
