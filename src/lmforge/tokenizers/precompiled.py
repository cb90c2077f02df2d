"""SentencePiece's ``Precompiled`` normalizer: the ``precompiled_charsmap`` that T5, ALBERT and XLNet
ship inside ``tokenizer.json`` (base64), reproduced the way Hugging Face ``tokenizers`` applies it.

The charsmap is SentencePiece's compiled normalization rules (usually ``nmt_nfkc``: NFKC plus a few
whitespace fixes): a little-endian uint32 byte count, a Darts-clone *double-array trie* over UTF-8
byte strings, then the replacement strings, each ended by a NUL byte. A trie leaf's value is the
offset of its replacement.

HF walks the text one extended grapheme cluster at a time: a cluster shorter than 6 bytes whose
bytes begin with a trie key is replaced, whole, by the replacement of the *shortest* such key;
otherwise each character is looked up on its own and kept as it is when nothing matches.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

import numpy as np
import regex

from lmforge.errors import ConfigError

_GRAPHEME = regex.compile(r"\X")


class PrecompiledCharsmap:
    """``str -> str`` normalizer built from the raw charsmap bytes."""

    def __init__(self, blob: bytes, where: str = "precompiled_charsmap") -> None:
        if len(blob) < 4:
            raise ConfigError(f"{where}: precompiled_charsmap is too short ({len(blob)} bytes)")
        trie_bytes = int.from_bytes(blob[:4], "little")
        if trie_bytes % 4 or 4 + trie_bytes > len(blob):
            raise ConfigError(f"{where}: precompiled_charsmap's trie size {trie_bytes} does not fit its "
                              f"{len(blob)} bytes")
        self.units = np.frombuffer(blob, dtype="<u4", count=trie_bytes // 4, offset=4).tolist()
        self.replacements = blob[4 + trie_bytes:]
        self._transform = lru_cache(maxsize=65536)(self._lookup)

    @classmethod
    def from_base64(cls, text: str, where: str) -> PrecompiledCharsmap:
        try:
            return cls(base64.b64decode(text, validate=True), where)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{where}: precompiled_charsmap is not valid base64") from None

    def _lookup(self, chunk: str) -> str | None:
        """Replacement of the shortest trie key that begins ``chunk`` (Darts common-prefix search)."""
        units, pos = self.units, 0
        pos ^= _offset(units[0])
        for byte in chunk.encode("utf-8"):
            if byte == 0:
                return None
            pos ^= byte
            if pos >= len(units):
                return None
            unit = units[pos]
            if unit & 0x800000FF != byte:  # label: the byte this node was reached by
                return None
            pos ^= _offset(unit)
            if (unit >> 8) & 1:  # has a leaf: a key ends here
                start = units[pos] & 0x7FFFFFFF
                end = self.replacements.index(b"\0", start)
                return self.replacements[start:end].decode("utf-8")
        return None

    def __call__(self, text: str) -> str:
        out: list[str] = []
        for grapheme in _GRAPHEME.findall(text):
            if len(grapheme.encode("utf-8")) < 6 and (whole := self._transform(grapheme)) is not None:
                out.append(whole)
                continue
            for ch in grapheme:
                replaced = self._transform(ch)
                out.append(ch if replaced is None else replaced)
        return "".join(out)


def _offset(unit: int) -> int:
    return (unit >> 10) << ((unit & (1 << 9)) >> 6)
