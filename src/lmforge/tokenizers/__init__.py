"""Tokenizers: char-level and GPT-2 style byte-level BPE, HF ``tokenizer.json`` compatible.

>>> from lmforge.tokenizers import ByteLevelBPE, load_tokenizer
>>> tok = ByteLevelBPE.train(open("input.txt").read(), vocab_size=4096)   # doctest: +SKIP
>>> tok.save("out/tokenizer.json"); load_tokenizer("out").encode("Hello")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from lmforge.errors import ConfigError
from lmforge.io import read_json
from lmforge.tokenizers.base import AllowedSpecial, Tokenizer
from lmforge.tokenizers.bpe import ByteLevelBPE
from lmforge.tokenizers.char import CharTokenizer
from lmforge.tokenizers.hf_json import component_type, resolve_json_path

__all__ = [
    "AllowedSpecial",
    "ByteLevelBPE",
    "CharTokenizer",
    "Tokenizer",
    "load_tokenizer",
    "train_tokenizer",
]

SUPPORTED = (
    "byte-level BPE (model BPE + ByteLevel pre_tokenizer, e.g. GPT-2's or one written by lmforge) "
    "and lmforge char tokenizers (model BPE without merges + Fuse decoder)"
)


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a ``tokenizer.json`` (or a folder holding one) as the matching lmforge class."""
    path = resolve_json_path(path)
    doc = read_json(path, "tokenizer file")
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise ConfigError(f"{path}: not a tokenizer.json (expected an object with a 'model' section)")
    model_type = doc["model"].get("type")
    if model_type is None and "merges" in doc["model"]:
        model_type = "BPE"  # very old files omit the type
    if model_type != "BPE":
        raise ConfigError(
            f"{path}: tokenizer model type {model_type!r} is not supported; supported: {SUPPORTED}"
        )
    pre = component_type(doc.get("pre_tokenizer"))
    if pre == "ByteLevel":
        return ByteLevelBPE.from_hf_json(doc, path)
    if doc.get("pre_tokenizer") is None and component_type(doc.get("decoder")) == "Fuse":
        return CharTokenizer.from_hf_json(doc, path)
    raise ConfigError(
        f"{path}: BPE with pre_tokenizer {pre!r} and decoder {component_type(doc.get('decoder'))!r} "
        f"is not supported; supported: {SUPPORTED}"
    )


def train_tokenizer(
    kind: Literal["bpe", "char"],
    texts: str | Iterable[str],
    vocab_size: int | None = None,
    special_tokens: Sequence[str] = ("<|endoftext|>",),
    progress: bool = False,
) -> Tokenizer:
    """Train a ``"bpe"`` (needs ``vocab_size``) or ``"char"`` tokenizer on ``texts``."""
    if kind == "bpe":
        if vocab_size is None:
            raise ConfigError("a BPE tokenizer needs a vocab size (e.g. 4096)")
        return ByteLevelBPE.train(texts, vocab_size, special_tokens, progress=progress)
    if kind == "char":
        if vocab_size is not None:
            raise ConfigError(
                "a char tokenizer's vocab is the set of characters in the corpus; do not pass a vocab size"
            )
        return CharTokenizer.train(texts, special_tokens)
    raise ConfigError(f"unknown tokenizer kind {kind!r}; expected 'bpe' or 'char'")
