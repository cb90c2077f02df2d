"""Streaming detokenization.

Byte-level BPE tokens are byte strings, and one character (é, 你, an emoji) can
be split across tokens. Decoding token by token would print U+FFFD garbage
mid-character, so pending tokens are held until they decode cleanly.
"""

from __future__ import annotations

from lmforge.tokenizers.base import Tokenizer

MAX_PENDING = 4  # a UTF-8 character is at most 4 bytes, so at most 4 byte tokens


class IncrementalDecoder:
    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.pending: list[int] = []

    def add(self, token_id: int) -> str:
        """Text that is now complete (possibly empty)."""
        self.pending.append(token_id)
        text = self.tokenizer.decode(self.pending)
        if text.endswith("\ufffd") and len(self.pending) < MAX_PENDING:
            return ""  # probably an unfinished character: wait for the next token
        self.pending.clear()
        return text

    def flush(self) -> str:
        text = self.tokenizer.decode(self.pending) if self.pending else ""
        self.pending.clear()
        return text
