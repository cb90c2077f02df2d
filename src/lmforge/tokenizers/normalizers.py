"""Normalizers: the first stage of a tokenizer pipeline, text -> cleaned-up text.

BERT's normalizer, for example, drops control characters, turns every
whitespace into a plain space, puts spaces around CJK ideographs (so each
becomes its own word), strips accents (``"café"`` -> ``"cafe"``) and
lowercases. Each function here reproduces the Hugging Face ``tokenizers``
component of the same name character for character; :func:`build_normalizer`
turns a ``tokenizer.json`` ``normalizer`` section into one ``str -> str``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

import regex

from lmforge.errors import ConfigError
from lmforge.tokenizers.precompiled import PrecompiledCharsmap

Normalizer = Callable[[str], str]


def is_whitespace(c: str) -> bool:
    """Rust's ``char::is_whitespace`` (the Unicode White_Space property), as HF uses it."""
    return c in "\t\n\r " or (unicodedata.category(c) == "Zs") or c in "\x0b\x0c\x85\u2028\u2029"


def is_control(c: str) -> bool:
    """BERT's "control character": Unicode category C* except tab, newline and carriage return."""
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def is_cjk(c: str) -> bool:
    """A CJK Unified Ideograph (the blocks BERT splits into single-character words)."""
    cp = ord(c)
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def lowercase(text: str) -> str:
    """Per-character lowercasing (like Rust's; Python's ``str.lower`` also applies the final-sigma rule)."""
    return text.lower() if text.isascii() else "".join(c.lower() for c in text)


def strip_accents(text: str) -> str:
    """Drop non-spacing marks (category Mn); run on NFD text, ``"é"`` -> ``"e" + "\u0301"`` -> ``"e"``."""
    return "".join(c for c in text if unicodedata.category(c) != "Mn")


# ASCII control characters are dropped, tab/newline/carriage return become spaces.
_ASCII_CLEAN = str.maketrans(
    {**{chr(c): None for c in [*range(0x20), 0x7F] if chr(c) not in "\t\n\r"}, "\t": " ", "\n": " ", "\r": " "}
)


def bert_normalize(
    text: str,
    clean_text: bool = True,
    handle_chinese_chars: bool = True,
    strip_accents_: bool | None = None,
    lowercase_: bool = True,
) -> str:
    """BERT's normalizer. ``strip_accents_=None`` means "strip accents when lowercasing" (uncased BERT)."""
    if text.isascii():  # the common case, done with C-speed string methods
        if clean_text:
            text = text.translate(_ASCII_CLEAN)
        return text.lower() if lowercase_ else text
    if clean_text:
        text = "".join(
            " " if is_whitespace(c) else c for c in text if c not in "\x00\ufffd" and not is_control(c)
        )
    if handle_chinese_chars:
        text = "".join(f" {c} " if is_cjk(c) else c for c in text)
    if strip_accents_ if strip_accents_ is not None else lowercase_:
        text = strip_accents(unicodedata.normalize("NFD", text))
    return lowercase(text) if lowercase_ else text


def _pattern(spec: Any, where: str) -> regex.Pattern[str]:
    """HF patterns are ``{"String": "x"}`` (literal) or ``{"Regex": "..."}``."""
    if isinstance(spec, dict) and "String" in spec:
        return regex.compile(regex.escape(spec["String"]))
    if isinstance(spec, dict) and "Regex" in spec:
        return regex.compile(spec["Regex"])
    raise ConfigError(f"{where}: pattern must be {{'String': ...}} or {{'Regex': ...}}, got {spec!r}")


def _strip(left: bool, right: bool) -> Normalizer:
    def strip(text: str) -> str:
        if left:
            text = text.lstrip()
        return text.rstrip() if right else text
    return strip


def build_normalizer(spec: dict[str, Any] | None, where: str) -> Normalizer | None:
    """The ``normalizer`` section of a ``tokenizer.json`` as a function (``None`` for none)."""
    if spec is None:
        return None
    kind = spec.get("type")
    if kind == "Sequence":
        steps = [n for s in spec.get("normalizers", []) if (n := build_normalizer(s, where)) is not None]
        return lambda text: _chain(text, steps)
    if kind == "BertNormalizer":
        return lambda text: bert_normalize(
            text, spec.get("clean_text", True), spec.get("handle_chinese_chars", True),
            spec.get("strip_accents"), spec.get("lowercase", True),
        )
    if kind in ("NFC", "NFD", "NFKC", "NFKD"):
        return lambda text: unicodedata.normalize(kind, text)
    simple: dict[str, Normalizer] = {"Lowercase": lowercase, "StripAccents": strip_accents}
    if kind in simple:
        return simple[kind]
    if kind == "Strip":
        return _strip(spec.get("strip_left", True), spec.get("strip_right", True))
    if kind == "Prepend":
        prefix = spec["prepend"]
        return lambda text: prefix + text if text else text
    if kind == "Replace":
        pattern, content = _pattern(spec.get("pattern"), where), spec.get("content", "")
        return lambda text: pattern.sub(lambda _: content, text)
    if kind == "Precompiled":  # SentencePiece's compiled rules (T5, ALBERT, XLNet)
        return PrecompiledCharsmap.from_base64(spec.get("precompiled_charsmap") or "", where)
    raise ConfigError(
        f"{where}: normalizer {kind!r} is not supported (supported: Sequence, BertNormalizer, NFC, NFD, NFKC, "
        "NFKD, Lowercase, StripAccents, Strip, Prepend, Replace, Precompiled)"
    )


def _chain(text: str, steps: list[Normalizer]) -> str:
    for step in steps:
        text = step(text)
    return text
