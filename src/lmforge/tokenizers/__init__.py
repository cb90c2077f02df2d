"""Tokenizers: char-level, GPT-2 style byte-level BPE, BERT WordPiece, SentencePiece-style Unigram,
and any HF ``tokenizer.json``.

>>> from lmforge.tokenizers import ByteLevelBPE, load_tokenizer
>>> tok = ByteLevelBPE.train(open("input.txt").read(), vocab_size=4096)   # doctest: +SKIP
>>> tok.save("out/tokenizer.json"); load_tokenizer("out").encode("Hello")  # doctest: +SKIP

``load_tokenizer`` reads lmforge's own files as the fast specialised classes
and every other ``tokenizer.json`` (WordPiece, SentencePiece-style BPE, ...)
or GGUF file as an :class:`HFTokenizer` pipeline.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from lmforge.errors import ConfigError
from lmforge.io import read_json
from lmforge.tokenizers.base import AllowedSpecial, Tokenizer
from lmforge.tokenizers.bpe import ByteLevelBPE
from lmforge.tokenizers.char import CharTokenizer
from lmforge.tokenizers.gguf import gguf_tokenizer_json
from lmforge.tokenizers.hf_json import component_type, resolve_json_path, unsupported_bpe_option
from lmforge.tokenizers.pipeline import HFTokenizer
from lmforge.tokenizers.unigram import train_unigram, unigram_tokenizer_json
from lmforge.tokenizers.wordpiece import bert_wordpiece_from_vocab, train_wordpiece

__all__ = [
    "AllowedSpecial",
    "ByteLevelBPE",
    "CharTokenizer",
    "HFTokenizer",
    "Tokenizer",
    "bert_wordpiece_from_vocab",
    "load_tokenizer",
    "train_tokenizer",
    "train_wordpiece",
]

def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a ``tokenizer.json``, a folder holding one (or a ``.gguf``), or a ``.gguf`` file.

    Files lmforge writes itself (and GPT-2's) load as :class:`ByteLevelBPE` or
    :class:`CharTokenizer`; anything else as an :class:`HFTokenizer`, with the
    end-of-text token taken from a ``tokenizer_config.json`` beside it.
    """
    path = Path(path)
    if path.is_dir() and not (path / "tokenizer.json").is_file() and (ggufs := sorted(path.glob("*.gguf"))):
        path = ggufs[0]
    if path.suffix == ".gguf":
        doc, eos = gguf_tokenizer_json(path)
        return HFTokenizer(doc, str(path), eos)
    path = resolve_json_path(path)
    doc = read_json(path, "tokenizer file")
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
        raise ConfigError(f"{path}: not a tokenizer.json (expected an object with a 'model' section)")
    if _is_lmforge_byte_level(doc):
        with contextlib.suppress(ConfigError):  # e.g. a vocab without all 256 bytes: HF's rules apply
            return ByteLevelBPE.from_hf_json(doc, path)
    if doc.get("pre_tokenizer") is None and component_type(doc.get("decoder")) == "Fuse" and _plain_bpe(doc):
        return CharTokenizer.from_hf_json(doc, path)
    return HFTokenizer(doc, str(path), _eos_token_beside(path))


def _plain_bpe(doc: dict[str, Any]) -> bool:
    """A BPE model with no options and only special added tokens: what lmforge's own classes represent."""
    model = doc["model"]
    options_neutral = unsupported_bpe_option(model) is None
    added_special = all(t.get("special", False) for t in doc.get("added_tokens") or [])
    return model.get("type", "BPE") == "BPE" and options_neutral and added_special and doc.get("normalizer") is None


def _is_lmforge_byte_level(doc: dict[str, Any]) -> bool:
    pre = doc.get("pre_tokenizer") or {}
    return (
        _plain_bpe(doc)
        and component_type(pre) == "ByteLevel"
        and not pre.get("add_prefix_space", False)
        and pre.get("use_regex", True)
        and component_type(doc.get("post_processor")) in (None, "ByteLevel")
    )


def _eos_token_beside(path: Path) -> str | None:
    """``eos_token`` from the ``tokenizer_config.json`` next to a ``tokenizer.json``, if any."""
    config_path = path.parent / "tokenizer_config.json"
    if not config_path.is_file():
        return None
    eos = read_json(config_path, "tokenizer config").get("eos_token")
    return eos.get("content") if isinstance(eos, dict) else eos


def train_tokenizer(
    kind: Literal["bpe", "char", "wordpiece", "unigram"],
    texts: str | Iterable[str],
    vocab_size: int | None = None,
    special_tokens: Sequence[str] = ("<|endoftext|>",),
    progress: bool = False,
) -> Tokenizer:
    """Train a ``"bpe"``, ``"wordpiece"`` or ``"unigram"`` (these need ``vocab_size``) or ``"char"`` tokenizer.

    WordPiece (uncased BERT) always has the specials [PAD] [UNK] [CLS] [SEP] [MASK]; Unigram always has
    ``<unk>`` (id 0) before the given specials.
    """
    if kind in ("bpe", "wordpiece", "unigram") and vocab_size is None:
        raise ConfigError(f"a {kind} tokenizer needs a vocab size (e.g. 4096)")
    if kind == "bpe":
        return ByteLevelBPE.train(texts, vocab_size, special_tokens, progress=progress)
    if kind == "wordpiece":
        return train_wordpiece(texts, vocab_size)
    if kind == "unigram":
        specials = ["<unk>", *(s for s in special_tokens if s != "<unk>")]
        return HFTokenizer(unigram_tokenizer_json(train_unigram(texts, vocab_size, specials), specials))
    if kind == "char":
        if vocab_size is not None:
            raise ConfigError(
                "a char tokenizer's vocab is the set of characters in the corpus; do not pass a vocab size"
            )
        return CharTokenizer.train(texts, special_tokens)
    raise ConfigError(f"unknown tokenizer kind {kind!r}; expected 'bpe', 'char', 'wordpiece' or 'unigram'")
