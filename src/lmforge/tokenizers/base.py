"""The interface every lmforge tokenizer implements.

Data preparation, training, generation and serving only ever talk to this
interface, so a char-level tokenizer, a BPE trained here, GPT-2's BPE or any
HF ``tokenizer.json`` are interchangeable everywhere.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

AllowedSpecial = Literal["all", "none"] | set[str]
#: a tokenizer's file name inside a model or data directory (the HF name, so HF tools find it)
TOKENIZER_FILE = "tokenizer.json"


class Tokenizer(ABC):
    """Text <-> token ids. ``decode(encode(s)) == s`` for every string ``s``."""

    #: special token text -> id (e.g. ``{"<|endoftext|>": 50256}``)
    special_tokens: dict[str, int]

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids (largest id + 1); the model's embedding table size."""

    @abstractmethod
    def encode(self, text: str, allowed_special: AllowedSpecial = "none") -> list[int]:
        """Encode ``text``. Special-token strings are only recognised when allowed."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """Decode ids back to text."""

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Write a Hugging Face compatible ``tokenizer.json`` (atomically)."""

    def encode_batch(self, texts: Sequence[str], allowed_special: AllowedSpecial = "none") -> list[list[int]]:
        return [self.encode(t, allowed_special) for t in texts]

    def token_to_id(self, token: str) -> int | None:
        """Id of a special token (or ``None``)."""
        return self.special_tokens.get(token)

    @property
    def eos_id(self) -> int | None:
        """End-of-text id used as a document separator and a default stop token."""
        return self.special_tokens.get("<|endoftext|>")
