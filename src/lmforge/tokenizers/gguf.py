"""The tokenizer inside a GGUF file, as a Hugging Face ``tokenizer.json`` document.

llama.cpp stores a BPE tokenizer as metadata: ``tokenizer.ggml.tokens`` (id ->
string, GPT-2 byte-level spelling), ``token_type`` (1 normal, 3 control =
special, 4 user-defined = added), ``merges`` and the special ids. How text is
cut into words before BPE is not stored as a regex but named by
``tokenizer.ggml.pre``; :data:`PRE_TOKENIZERS` maps the names we know to the HF
pre-tokenizer with the same splits (llama.cpp's ``llama-vocab.cpp`` lists the
regexes). SmolLM2's ``"smollm"`` splits every digit on its own before GPT-2's
regex, as its original ``tokenizer.json`` does. (transformers' own GGUF
conversion ignores ``tokenizer.ggml.pre`` and differs from the model's real
tokenizer on digits.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError
from lmforge.tokenizers.gguf_meta import read_gguf_metadata

_BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
_DIGITS_THEN_GPT2 = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _BYTE_LEVEL]}
_LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
_LLAMA3 = {
    "type": "Sequence",
    "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": _LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
        {**_BYTE_LEVEL, "use_regex": False},
    ],
}

#: ``tokenizer.ggml.pre`` -> HF pre_tokenizer
PRE_TOKENIZERS: dict[str, dict[str, Any]] = {
    "default": _BYTE_LEVEL,
    "gpt-2": _BYTE_LEVEL,
    "smollm": _DIGITS_THEN_GPT2,
    "starcoder": _DIGITS_THEN_GPT2,
    "refact": _DIGITS_THEN_GPT2,
    "llama-bpe": _LLAMA3,
    "llama3": _LLAMA3,
}

_CONTROL, _USER_DEFINED = 3, 4


def gguf_tokenizer_json(path: str | Path) -> tuple[dict[str, Any], str | None]:
    """``(tokenizer.json document, eos token string)`` for the tokenizer stored in a GGUF file."""
    meta = read_gguf_metadata(path)
    kind = meta.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise ConfigError(
            f"{path}: GGUF tokenizer model {kind!r} is not supported (only 'gpt2', i.e. byte-level BPE; "
            "SentencePiece 'llama' vocabularies need a tokenizer.json)"
        )
    pre_name = meta.get("tokenizer.ggml.pre", "default")
    if pre_name not in PRE_TOKENIZERS:
        raise ConfigError(
            f"{path}: GGUF pre-tokenizer {pre_name!r} is not supported; known: {sorted(PRE_TOKENIZERS)}"
        )
    tokens: list[str] = meta["tokenizer.ggml.tokens"]
    types: list[int] = meta.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": kind_ == _USER_DEFINED, "special": kind_ == _CONTROL}
        for i, (t, kind_) in enumerate(zip(tokens, types, strict=True)) if kind_ in (_CONTROL, _USER_DEFINED)
    ]
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": PRE_TOKENIZERS[pre_name],
        "post_processor": _bos_template(meta, tokens),
        "decoder": _BYTE_LEVEL,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": meta.get("tokenizer.ggml.merges") or [],
        },
    }
    eos = meta.get("tokenizer.ggml.eos_token_id")
    return doc, tokens[eos] if eos is not None and 0 <= eos < len(tokens) else None


def _bos_template(meta: dict[str, Any], tokens: list[str]) -> dict[str, Any] | None:
    """A post-processor that prepends BOS when the GGUF asks for it (``add_bos_token``)."""
    bos = meta.get("tokenizer.ggml.bos_token_id")
    if not meta.get("tokenizer.ggml.add_bos_token") or bos is None:
        return None
    name = tokens[bos]
    return {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": name, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": name, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": name, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {name: {"id": name, "ids": [bos], "tokens": [name]}},
    }
