"""Decoders: the last stage of a tokenizer pipeline, token strings -> text.

A decoder undoes what the pre-tokenizer and model did to spaces: WordPiece
joins ``"un", "##aff", "##able"`` into ``"unaffable"``; byte-level BPE maps
``"Ġthe"`` back to the bytes of ``" the"``; SentencePiece-style tokenizers turn
``"▁"`` back into spaces and ``<0xE2>``-style byte tokens into characters.
Each function reproduces the Hugging Face ``tokenizers`` decoder of the same
name; a decoder maps the list of token strings to a new list (``decode_chain``
in HF), and the results are concatenated at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lmforge.errors import ConfigError
from lmforge.tokenizers.normalizers import _pattern
from lmforge.tokenizers.pretokenize import unicode_to_bytes

Decoder = Callable[[list[str]], list[str]]

# WordPiece's "cleanup": undo the spaces BERT's pre-tokenizer put around punctuation.
_CLEANUPS = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
    (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)


def cleanup(text: str) -> str:
    for old, new in _CLEANUPS:
        text = text.replace(old, new)
    return text


def _wordpiece(prefix: str, clean: bool) -> Decoder:
    def decode(tokens: list[str]) -> list[str]:
        out = []
        for i, tok in enumerate(tokens):
            if i:
                tok = tok.replace(prefix, "", 1) if tok.startswith(prefix) else " " + tok
            out.append(cleanup(tok) if clean else tok)
        return out
    return decode


def _byte_level(tokens: list[str]) -> list[str]:
    table = unicode_to_bytes()
    data = bytearray()
    for tok in tokens:
        try:
            data += bytes(table[c] for c in tok)
        except KeyError:  # e.g. an added token written in ordinary characters
            data += tok.encode("utf-8")
    return [data.decode("utf-8", errors="replace")]


def _byte_fallback(tokens: list[str]) -> list[str]:
    """``<0xE2><0x82><0xAC>`` -> ``"€"``; an invalid byte run gives one U+FFFD per byte."""
    out: list[str] = []
    pending = bytearray()

    def flush() -> None:
        if pending:
            try:
                out.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                out.extend("\ufffd" for _ in pending)
            pending.clear()

    for tok in tokens:
        if len(tok) == 6 and tok.startswith("<0x") and tok.endswith(">"):
            try:
                pending.append(int(tok[3:5], 16))
                continue
            except ValueError:
                pass
        flush()
        out.append(tok)
    flush()
    return out


def _metaspace(replacement: str, prepend_scheme: str) -> Decoder:
    def decode(tokens: list[str]) -> list[str]:
        # In the first token HF drops every replacement character (the prepended space), elsewhere -> " ".
        return [
            tok.replace(replacement, "" if i == 0 and prepend_scheme != "never" else " ")
            for i, tok in enumerate(tokens)
        ]
    return decode


def _strip(content: str, start: int, stop: int) -> Decoder:
    def strip_one(tok: str) -> str:
        lo = 0
        while lo < min(start, len(tok)) and tok[lo] == content:
            lo += 1
        hi = len(tok)
        while len(tok) - hi < stop and hi > lo and tok[hi - 1] == content:
            hi -= 1
        return tok[lo:hi]
    return lambda tokens: [strip_one(t) for t in tokens]


def _replace(spec: dict[str, Any], where: str) -> Decoder:
    pattern, content = _pattern(spec.get("pattern"), where), spec.get("content", "")
    return lambda tokens: [pattern.sub(lambda _: content, t) for t in tokens]


def _bpe_suffix(suffix: str) -> Decoder:
    def decode(tokens: list[str]) -> list[str]:
        last = len(tokens) - 1
        return [t.replace(suffix, "" if i == last else " ") for i, t in enumerate(tokens)]
    return decode


def _sequence(steps: list[Decoder]) -> Decoder:
    def decode(tokens: list[str]) -> list[str]:
        for step in steps:
            tokens = step(tokens)
        return tokens
    return decode


def build_decoder(spec: dict[str, Any] | None, where: str) -> Decoder | None:
    """The ``decoder`` section of a ``tokenizer.json`` as a function (``None``: join with spaces)."""
    if spec is None:
        return None
    kind = spec.get("type")
    if kind == "Sequence":
        return _sequence([d for s in spec.get("decoders", []) if (d := build_decoder(s, where))])
    if kind == "WordPiece":
        return _wordpiece(spec.get("prefix", "##"), spec.get("cleanup", True))
    if kind == "ByteLevel":
        return _byte_level
    if kind == "ByteFallback":
        return _byte_fallback
    if kind == "Fuse":
        return lambda tokens: ["".join(tokens)]
    if kind == "Metaspace":
        scheme = spec.get("prepend_scheme") or ("always" if spec.get("add_prefix_space", True) else "never")
        return _metaspace(spec.get("replacement", "▁"), scheme)
    if kind == "Strip":
        return _strip(spec.get("content", " "), spec.get("start", 0), spec.get("stop", 0))
    if kind == "Replace":
        return _replace(spec, where)
    if kind == "BPEDecoder":
        return _bpe_suffix(spec.get("suffix", "</w>"))
    raise ConfigError(
        f"{where}: decoder {kind!r} is not supported (supported: Sequence, WordPiece, ByteLevel, ByteFallback, "
        "Fuse, Metaspace, Strip, Replace, BPEDecoder)"
    )
