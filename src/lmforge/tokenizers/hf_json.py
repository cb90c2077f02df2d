"""Reading and writing the parts of Hugging Face's ``tokenizer.json`` we use.

A ``tokenizer.json`` is a pipeline: normalizer -> pre_tokenizer -> model ->
post_processor, plus a decoder and a list of ``added_tokens`` (specials that
are cut out of the text before anything else runs). lmforge writes only
pipelines whose behaviour it reproduces exactly, and refuses to load any
other, because a silently different tokenization would corrupt every id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError

# Options of HF's BPE model that lmforge does not implement, with the value
# that keeps HF's behaviour identical to plain GPT-2-style BPE.
BPE_NEUTRAL_OPTIONS: dict[str, Any] = {
    "dropout": None,
    "unk_token": None,
    "continuing_subword_prefix": None,
    "end_of_word_suffix": None,
    "fuse_unk": False,
    "byte_fallback": False,
    # True would look whole words up in the vocab before merging, which can
    # give a different split than replaying the merges.
    "ignore_merges": False,
}

# With no ``unk_token`` HF's BPE silently drops a character it cannot encode; with an ``unk_token``
# that is itself missing from the vocab it raises instead: the refusal lmforge's tokenizers make.
# lmforge writes this name, and reads any missing unk_token as the same refusal.
REFUSE_UNKNOWN = "<unk: not in the vocabulary, refused>"


def unsupported_bpe_option(model: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """``(key, value, neutral)`` for the first BPE option lmforge does not implement, else ``None``."""
    for key, neutral in BPE_NEUTRAL_OPTIONS.items():
        value = model.get(key, neutral)
        refuses_unknown = key == "unk_token" and value not in (model.get("vocab") or {})
        if value != neutral and not refuses_unknown:
            return key, value, neutral
    return None


def tokenizer_json(
    model: dict[str, Any],
    special_tokens: dict[str, int],
    pre_tokenizer: dict[str, Any] | None,
    decoder: dict[str, Any] | None,
) -> dict[str, Any]:
    """Assemble a complete ``tokenizer.json`` document."""
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": s,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for s, i in sorted(special_tokens.items(), key=lambda kv: kv[1])
        ],
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": None,
        "decoder": decoder,
        "model": model,
    }


def bpe_model_json(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict[str, Any]:
    """HF ``BPE`` model section. Merges use the ``"left right"`` string form,
    which every ``tokenizers`` version reads (byte-level tokens contain no spaces)."""
    return {
        "type": "BPE",
        **BPE_NEUTRAL_OPTIONS,
        "vocab": dict(sorted(vocab.items(), key=lambda kv: kv[1])),
        "merges": [f"{a} {b}" for a, b in merges],
    }


def resolve_json_path(path: str | Path) -> Path:
    """Accept either a ``tokenizer.json`` file or a folder that contains one."""
    path = Path(path)
    if path.is_dir():
        return path / "tokenizer.json"
    return path


def parse_added_tokens(doc: dict[str, Any], path: Path) -> dict[str, int]:
    """``added_tokens`` -> ``{content: id}``.

    lmforge treats every added token as a special token that is only
    recognised when ``allowed_special`` permits (HF always recognises them).
    """
    out: dict[str, int] = {}
    for k, entry in enumerate(doc.get("added_tokens") or []):
        try:
            out[str(entry["content"])] = int(entry["id"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: added_tokens[{k}] must have 'content' and an integer 'id'") from None
    return out


def parse_bpe_model(doc: dict[str, Any], path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Validate a BPE model section and return ``(vocab, merges)`` as strings."""
    model = doc["model"]
    if unsupported := unsupported_bpe_option(model):
        key, value, neutral = unsupported
        raise ConfigError(
            f"{path}: model.{key} = {value!r} is not supported (lmforge implements plain BPE; expected {neutral!r})"
        )
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise ConfigError(f"{path}: model.vocab must be an object mapping token -> id")
    merges: list[tuple[str, str]] = []
    for rank, m in enumerate(model.get("merges") or []):
        # Older files store "left right", newer ones ["left", "right"].
        parts = m.split(" ") if isinstance(m, str) else m
        if not isinstance(parts, list) or len(parts) != 2:
            raise ConfigError(f"{path}: model.merges[{rank}] = {m!r} is not a pair of tokens")
        merges.append((parts[0], parts[1]))
    return vocab, merges


def require_no_normalizer(doc: dict[str, Any], path: Path) -> None:
    if doc.get("normalizer") is not None:
        kind = doc["normalizer"].get("type") if isinstance(doc["normalizer"], dict) else doc["normalizer"]
        raise ConfigError(
            f"{path}: normalizer {kind!r} is not supported; lmforge tokenizers use no normalizer"
        )


def component_type(component: Any) -> str | None:
    """``{"type": "ByteLevel", ...}`` -> ``"ByteLevel"`` (``None`` for a missing component)."""
    return component.get("type") if isinstance(component, dict) else None
