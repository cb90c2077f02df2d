"""Pre-tokenizers: cut normalized text into the "words" a subword model works on.

Each one reproduces the Hugging Face ``tokenizers`` component of the same
name. They are all instances of one operation, :func:`split`: find the
matches of a pattern, then keep, drop or glue them to a neighbour according
to a *behavior* (HF's ``SplitDelimiterBehavior``):

==================  ==========================================
``Removed``         ``"a b"`` split on spaces -> ``a``, ``b``
``Isolated``        ``"a,b"`` on commas -> ``a``, ``,``, ``b``
``MergedWithPrevious``  ``a,``, ``b``
``MergedWithNext``  ``a``, ``,b``
``Contiguous``      like Isolated, but adjacent matches stay together
==================  ==========================================

A pre-tokenizer here is a function ``(text, at_start) -> pieces``; ``at_start``
tells whether ``text`` begins the input (Metaspace's ``prepend_scheme="first"``
only adds its ``▁`` there, not after a special token).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import regex

from lmforge.errors import ConfigError
from lmforge.tokenizers.normalizers import _pattern
from lmforge.tokenizers.pretokenize import bytes_to_token_str, gpt2_split

PreTokenizer = Callable[[str, bool], list[str]]

# Rust's char::is_whitespace (Unicode White_Space), as a regex class.
WHITESPACE = r"[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# BERT punctuation: ASCII punctuation (which includes symbols such as $ + < = > ^ ` | ~) or Unicode P*.
PUNCTUATION = r"[!-/:-@\[-`{-~\p{P}]"

_BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")


def split(text: str, pattern: regex.Pattern[str], behavior: str, invert: bool = False) -> list[str]:
    """Split ``text`` at the matches of ``pattern`` with HF's delimiter ``behavior``."""
    # (start, end, is_match) segments covering the whole text
    segments: list[tuple[int, int, bool]] = []
    prev = 0
    for m in pattern.finditer(text):
        if m.start() != prev:
            segments.append((prev, m.start(), invert))
        segments.append((m.start(), m.end(), not invert))
        prev = m.end()
    if prev != len(text):
        segments.append((prev, len(text), invert))

    kept: list[list[int]] = []  # [start, end] of each output piece
    if behavior == "Removed":
        kept = [[s, e] for s, e, is_match in segments if not is_match]
    elif behavior == "Isolated":
        kept = [[s, e] for s, e, _ in segments]
    elif behavior == "Contiguous":
        previous = False
        for s, e, is_match in segments:
            if is_match == previous and kept:
                kept[-1][1] = e
            else:
                kept.append([s, e])
            previous = is_match
    elif behavior == "MergedWithPrevious":
        previous = False
        for s, e, is_match in segments:
            if is_match and not previous and kept:
                kept[-1][1] = e
            else:
                kept.append([s, e])
            previous = is_match
    elif behavior == "MergedWithNext":
        previous = False
        for s, e, is_match in reversed(segments):
            if is_match and not previous and kept:
                kept[-1][0] = s
            else:
                kept.append([s, e])
            previous = is_match
        kept.reverse()
    else:
        raise ConfigError(f"split behavior {behavior!r} is unknown; expected one of {_BEHAVIORS}")
    return [text[s:e] for s, e in kept if e > s]


def _splitter(pattern: str, behavior: str, invert: bool = False) -> PreTokenizer:
    compiled = regex.compile(pattern)
    return lambda text, at_start: split(text, compiled, behavior, invert)


#: BERT's pre-tokenizer: a run of characters that are neither whitespace nor punctuation,
#: or one punctuation character (whitespace is dropped).
_BERT_WORD = regex.compile(rf"(?:(?!{WHITESPACE}|{PUNCTUATION}).)+|{PUNCTUATION}", regex.DOTALL)


def bert_pre_tokenize(text: str) -> list[str]:
    """``"Hello, world!"`` -> ``["Hello", ",", "world", "!"]`` (HF ``BertPreTokenizer``)."""
    return _BERT_WORD.findall(text)


def _byte_level(add_prefix_space: bool, use_regex: bool) -> PreTokenizer:
    """GPT-2's pre-tokenizer: regex split, then each piece's UTF-8 bytes as printable characters."""
    def pre_tokenize(text: str, at_start: bool) -> list[str]:
        if add_prefix_space and not text.startswith(" "):
            text = " " + text
        pieces = gpt2_split(text) if use_regex else [text]
        return [bytes_to_token_str(p.encode("utf-8")) for p in pieces]
    return pre_tokenize


def _metaspace(replacement: str, prepend_scheme: str, split_words: bool) -> PreTokenizer:
    """SentencePiece style: spaces become ``▁``, optionally one is prepended, split before each ``▁``."""
    marker = regex.compile(regex.escape(replacement))

    def pre_tokenize(text: str, at_start: bool) -> list[str]:
        text = text.replace(" ", replacement)
        prepend = prepend_scheme == "always" or (prepend_scheme == "first" and at_start)
        if prepend and not text.startswith(replacement):
            text = replacement + text
        return split(text, marker, "MergedWithNext") if split_words else [text]
    return pre_tokenize


def _sequence(steps: list[PreTokenizer]) -> PreTokenizer:
    def pre_tokenize(text: str, at_start: bool) -> list[str]:
        pieces = [text]
        for step in steps:
            # only the first piece of a piece at the start still begins the input
            pieces = [p for k, piece in enumerate(pieces) for p in step(piece, at_start and k == 0)]
        return pieces
    return pre_tokenize


def build_pre_tokenizer(spec: dict[str, Any] | None, where: str) -> PreTokenizer | None:
    """The ``pre_tokenizer`` section of a ``tokenizer.json`` as a function (``None`` for none)."""
    if spec is None:
        return None
    kind = spec.get("type")
    if kind == "Sequence":
        return _sequence([p for s in spec.get("pretokenizers", []) if (p := build_pre_tokenizer(s, where))])
    if kind == "ByteLevel":
        return _byte_level(spec.get("add_prefix_space", True), spec.get("use_regex", True))
    if kind == "BertPreTokenizer":
        return lambda text, at_start: bert_pre_tokenize(text)
    if kind == "Whitespace":
        return _splitter(r"\w+|[^\w\s]+", "Removed", invert=True)
    if kind == "WhitespaceSplit":
        return _splitter(WHITESPACE, "Removed")
    if kind == "Punctuation":
        return _splitter(PUNCTUATION, spec.get("behavior", "Isolated"))
    if kind == "Digits":
        return _splitter(r"\p{N}", "Isolated" if spec.get("individual_digits", False) else "Contiguous")
    if kind == "CharDelimiterSplit":
        return _splitter(regex.escape(spec["delimiter"]), "Removed")
    if kind == "Metaspace":
        scheme = spec.get("prepend_scheme") or ("always" if spec.get("add_prefix_space", True) else "never")
        return _metaspace(spec.get("replacement", "▁"), scheme, spec.get("split", True))
    if kind == "Split":
        pattern = _pattern(spec.get("pattern"), where)
        behavior, invert = spec.get("behavior", "Isolated"), spec.get("invert", False)
        return lambda text, at_start: split(text, pattern, behavior, invert)
    raise ConfigError(
        f"{where}: pre_tokenizer {kind!r} is not supported (supported: Sequence, ByteLevel, BertPreTokenizer, "
        "Whitespace, WhitespaceSplit, Punctuation, Digits, CharDelimiterSplit, Metaspace, Split)"
    )
