"""Pre-tokenization shared by the tokenizers: the GPT-2 regex, the byte<->unicode
table, and splitting special tokens out of text.

Why pre-tokenize at all? BPE merges are learned and applied *inside* words
only. Cutting text into "words" first (a letter run with its leading space,
a number run, a punctuation run, whitespace) keeps merges from gluing
``"dog."`` or ``"the cat"`` into one token, and it makes encoding cacheable:
the same word always encodes to the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import regex

from lmforge.errors import LmforgeError

#: GPT-2's pre-tokenizer pattern: English contractions, an optional space plus
#: letters / digits / other symbols, and whitespace runs. ``\s+(?!\S)`` leaves
#: the last space of a whitespace run in front of the next word, so
#: ``"a  b"`` becomes ``["a", " ", " b"]`` and ``" b"`` stays a common token.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

_GPT2_RE = regex.compile(GPT2_PATTERN)

#: ``gpt2_split("Hello world!")`` -> ``["Hello", " world", "!"]``
gpt2_split = _GPT2_RE.findall


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from the 256 byte values to printable characters.

    Byte-level BPE works on bytes, but HF ``tokenizer.json`` / ``vocab.bpe``
    store tokens as strings. Printable Latin-1 bytes map to themselves; the
    rest (control bytes, space, ...) are shifted to code points 256+, so a
    space becomes ``"Ġ"`` and a newline ``"Ċ"``. Every token is then a
    readable string with no spaces, which the merges file format relies on.
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table: dict[int, str] = {b: chr(b) for b in keep}
    shift = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + shift)
            shift += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    """Inverse of :func:`bytes_to_unicode`."""
    return {c: b for b, c in bytes_to_unicode().items()}


def token_str_to_bytes(token: str) -> bytes:
    """``"Ġthe"`` -> ``b" the"``; raises ``KeyError`` for a non byte-level character."""
    table = unicode_to_bytes()
    return bytes(table[c] for c in token)


def bytes_to_token_str(data: bytes) -> str:
    """``b" the"`` -> ``"Ġthe"``."""
    table = bytes_to_unicode()
    return "".join(table[b] for b in data)


def resolve_allowed_special(allowed_special: object, special_tokens: dict[str, int]) -> frozenset[str]:
    """Turn ``"all"`` / ``"none"`` / a set of names into the set of specials to recognise."""
    if allowed_special == "all":
        return frozenset(special_tokens)
    if allowed_special == "none" or allowed_special is None:
        return frozenset()
    if isinstance(allowed_special, str):
        raise LmforgeError(
            "allowed_special must be 'all', 'none' or a set of special tokens, "
            f"got the string {allowed_special!r}"
        )
    allowed = frozenset(allowed_special)  # type: ignore[arg-type]
    unknown = sorted(allowed - special_tokens.keys())
    if unknown:
        raise LmforgeError(
            f"allowed_special names {unknown} which are not special tokens of this tokenizer; "
            f"its special tokens are {sorted(special_tokens)}"
        )
    return allowed


@lru_cache(maxsize=64)
def _special_re(allowed: frozenset[str]) -> regex.Pattern[str]:
    # Longest first so that "<|endoftext|>" wins over a special that is its prefix.
    alternatives = sorted(allowed, key=lambda s: (-len(s), s))
    return regex.compile("(" + "|".join(regex.escape(s) for s in alternatives) + ")")


def split_special(text: str, allowed: frozenset[str]) -> Iterator[tuple[str, bool]]:
    """Yield ``(piece, is_special)``: allowed special tokens cut out of ``text``.

    Specials must be split out *before* pre-tokenization, otherwise the regex
    would cut ``"<|endoftext|>"`` into ``"<|", "endoftext", "|>"``.
    """
    if not allowed:
        if text:
            yield text, False
        return
    # re.split with one capturing group alternates text, special, text, ...
    for i, piece in enumerate(_special_re(allowed).split(text)):
        if piece:
            yield piece, bool(i % 2)


def strip_specials(texts: Iterable[str], specials: Iterable[str]) -> Iterator[str]:
    """Yield the ordinary-text pieces of ``texts``, dropping special-token strings.

    Used for training: a document separator such as ``<|endoftext|>`` in the
    corpus must not be learned as ``"<|"``, ``"endoftext"``, ``"|>"`` merges.
    """
    allowed = frozenset(specials)
    for text in texts:
        for piece, is_special in split_special(text, allowed):
            if not is_special:
                yield piece
