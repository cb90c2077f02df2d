"""Any Hugging Face ``tokenizer.json``, run by lmforge's own code.

A ``tokenizer.json`` describes a pipeline; this class runs it stage by stage:

1. **added tokens** (``[CLS]``, ``<|im_end|>``) are cut out of the raw text
   first, so they are never split. Special ones only when ``allowed_special``
   allows (the lmforge convention), ordinary added tokens always;
2. **normalizer** (:mod:`.normalizers`): lowercase, strip accents, ...;
3. **pre-tokenizer** (:mod:`.pre_tokenizers`): cut into words;
4. **model** (:mod:`.subword_models`): each word -> ids (BPE / WordPiece / WordLevel);
5. **post-processor** (only with ``add_special_tokens=True``): wrap in
   ``[CLS] ... [SEP]`` or ``<s> ...`` per the template;
6. **decoder** (:mod:`.decoders`) for ids -> text.

The ids equal HF ``tokenizers``' ``encode(text, add_special_tokens=...)`` (tests
check this on the bundled corpus for GPT-2, SmolLM2, MiniLM and synthetic
Llama-style files). Truncation and padding settings in the file are ignored:
they are batching choices, made by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import regex

from lmforge.errors import ConfigError, LmforgeError
from lmforge.io import read_json, write_json
from lmforge.tokenizers.base import AllowedSpecial, Tokenizer
from lmforge.tokenizers.decoders import build_decoder
from lmforge.tokenizers.hf_json import resolve_json_path
from lmforge.tokenizers.normalizers import build_normalizer
from lmforge.tokenizers.pre_tokenizers import build_pre_tokenizer
from lmforge.tokenizers.pretokenize import resolve_allowed_special
from lmforge.tokenizers.subword_models import build_model


class _AddedToken:
    def __init__(self, entry: dict[str, Any], where: str) -> None:
        try:
            self.content, self.id = str(entry["content"]), int(entry["id"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{where}: every added_tokens entry needs 'content' and an integer 'id'") from None
        self.special = bool(entry.get("special", False))
        self.normalized = bool(entry.get("normalized", not self.special))
        self.lstrip, self.rstrip = bool(entry.get("lstrip")), bool(entry.get("rstrip"))
        self.single_word = bool(entry.get("single_word"))

    def pattern(self, content: str) -> str:
        p = regex.escape(content)
        if self.single_word:
            p = rf"(?<!\w){p}(?!\w)"
        return (r"\s*" if self.lstrip else "") + p + (r"\s*" if self.rstrip else "")


class HFTokenizer(Tokenizer):
    """A tokenizer built from a parsed ``tokenizer.json`` document.

    ``eos_token`` names the end-of-text token when the model's tokenizer
    config says so (``</s>``, ``<|im_end|>``); otherwise ``<|endoftext|>``.
    """

    def __init__(self, doc: dict[str, Any], where: str = "tokenizer.json", eos_token: str | None = None) -> None:
        if not isinstance(doc, dict) or not isinstance(doc.get("model"), dict):
            raise ConfigError(f"{where}: not a tokenizer.json (expected an object with a 'model' section)")
        self.doc, self.where = doc, where
        self.model = build_model(doc["model"], where)
        self.normalizer = build_normalizer(doc.get("normalizer"), where)
        self.pre_tokenizer = build_pre_tokenizer(doc.get("pre_tokenizer"), where)
        self.decoder = build_decoder(doc.get("decoder"), where)
        self.post_processor = doc.get("post_processor")
        self.added = [_AddedToken(e, where) for e in doc.get("added_tokens") or []]
        self.special_tokens = {t.content: t.id for t in self.added if t.special}
        # HF spells a normalized added token the way it matched: normalized (" ROMEO" -> " romeo")
        self._id_to_token = {i: t for t, i in self.model.vocab.items()} | {
            t.id: self.normalizer(t.content) if t.normalized and self.normalizer else t.content for t in self.added
        }
        self._token_to_id = {**self.model.vocab, **{t.content: t.id for t in self.added}}
        self._eos_token = eos_token
        self._matchers: dict[tuple[frozenset[str], bool], regex.Pattern[str] | None] = {}

    @classmethod
    def load(cls, path: str | Path, eos_token: str | None = None) -> HFTokenizer:
        path = resolve_json_path(path)
        return cls(read_json(path, "tokenizer file"), str(path), eos_token)

    def save(self, path: str | Path) -> None:
        write_json(resolve_json_path(path), self.doc)

    # ------------------------------------------------------------- vocab
    @property
    def vocab_size(self) -> int:
        return max(self._id_to_token) + 1

    def token_to_id(self, token: str) -> int | None:
        """Id of any token string (ordinary or added), or ``None``."""
        return self._token_to_id.get(token)

    def id_to_token(self, token_id: int) -> str:
        try:
            return self._id_to_token[token_id]
        except (KeyError, TypeError):
            raise LmforgeError(
                f"token id {token_id!r} is not in this tokenizer's vocabulary (valid ids are 0..{self.vocab_size - 1})"
            ) from None

    @property
    def eos_id(self) -> int | None:
        return self.token_to_id(self._eos_token or "<|endoftext|>")

    # ------------------------------------------------------------ encode
    def encode(
        self, text: str, allowed_special: AllowedSpecial = "none", add_special_tokens: bool = False
    ) -> list[int]:
        """Ids of ``text``; ``add_special_tokens=True`` applies the post-processor (``[CLS] ... [SEP]``)."""
        ids = self._encode(text, resolve_allowed_special(allowed_special, self.special_tokens))
        return self.post_process(ids)[0] if add_special_tokens else ids

    def encode_batch(self, texts: Sequence[str], allowed_special: AllowedSpecial = "none") -> list[list[int]]:
        allowed = resolve_allowed_special(allowed_special, self.special_tokens)
        return [self._encode(t, allowed) for t in texts]

    def encode_pair(
        self, first: str, second: str, allowed_special: AllowedSpecial = "none"
    ) -> tuple[list[int], list[int]]:
        """``[CLS] first [SEP] second [SEP]`` ids and their segment (token type) ids, as BERT's NSP needs."""
        allowed = resolve_allowed_special(allowed_special, self.special_tokens)
        return self.post_process(self._encode(first, allowed), self._encode(second, allowed))

    def _encode(self, text: str, allowed: frozenset[str]) -> list[int]:
        ids: list[int] = []
        # stage 1: added tokens that match the raw text
        for piece, token_id, at_start in self._split_added(text, allowed, normalized=False, at_start=True):
            if token_id is not None:
                ids.append(token_id)
                continue
            if self.normalizer is not None:
                piece = self.normalizer(piece)
            # stage 1b: added tokens that match normalized text
            for sub, sub_id, sub_start in self._split_added(piece, allowed, normalized=True, at_start=at_start):
                if sub_id is not None:
                    ids.append(sub_id)
                else:
                    words = self.pre_tokenizer(sub, sub_start) if self.pre_tokenizer else [sub]
                    ids.extend(chain.from_iterable(map(self.model.encode_word, words)))
        return ids

    def _split_added(
        self, text: str, allowed: frozenset[str], normalized: bool, at_start: bool
    ) -> Iterable[tuple[str, int | None, bool]]:
        """Yield ``(piece, added token id or None, piece begins the input)``."""
        matcher = self._matcher(allowed, normalized)
        if matcher is None:
            if text:
                yield text, None, at_start
            return
        pos = 0
        for m in matcher.finditer(text):
            if m.start() > pos:
                yield text[pos:m.start()], None, at_start and pos == 0
            yield m.group(), int(m.lastgroup[1:]), False  # groups are named "t<id>"
            pos = m.end()
        if pos < len(text):
            yield text[pos:], None, at_start and pos == 0

    def _matcher(self, allowed: frozenset[str], normalized: bool) -> regex.Pattern[str] | None:
        """One regex for the added tokens to look for; longest first, so the longest match wins."""
        key = (allowed, normalized)
        if key not in self._matchers:
            tokens = [t for t in self.added if t.normalized == normalized and (not t.special or t.content in allowed)]
            contents = {t.id: (self.normalizer(t.content) if normalized and self.normalizer else t.content)
                        for t in tokens}
            tokens.sort(key=lambda t: -len(contents[t.id]))
            alternatives = [f"(?P<t{t.id}>{t.pattern(contents[t.id])})" for t in tokens]
            self._matchers[key] = regex.compile("|".join(alternatives)) if alternatives else None
        return self._matchers[key]

    def post_process(self, first: list[int], second: list[int] | None = None) -> tuple[list[int], list[int]]:
        """Apply the file's post-processor: ``(ids, type_ids)`` with special tokens added."""
        return _post_process(self.post_processor, first, second, self.where)

    # ------------------------------------------------------------ decode
    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        if hasattr(ids, "tolist"):  # torch / numpy arrays
            ids = ids.tolist()
        specials = set(self.special_tokens.values()) if skip_special_tokens else set()
        tokens = [self.id_to_token(i) for i in ids if i not in specials]
        if self.decoder is None:
            return " ".join(tokens)
        return "".join(self.decoder(tokens))

    def __repr__(self) -> str:
        return f"HFTokenizer({type(self.model).__name__}, vocab_size={self.vocab_size}, from {self.where})"


def _post_process(
    spec: dict[str, Any] | None, first: list[int], second: list[int] | None, where: str
) -> tuple[list[int], list[int]]:
    type_ids = [0] * len(first) + [1] * len(second or [])
    if spec is None or spec.get("type") == "ByteLevel":  # ByteLevel only trims offsets
        return first + (second or []), type_ids
    kind = spec.get("type")
    if kind == "Sequence":
        ids: tuple[list[int], list[int]] = (first + (second or []), type_ids)
        for step in spec.get("processors", []):
            if step.get("type") not in (None, "ByteLevel"):
                return _post_process(step, first, second, where)  # at most one step adds tokens
        return ids
    if kind in ("BertProcessing", "RobertaProcessing"):
        (_, cls_id), (_, sep_id) = spec["cls"], spec["sep"]
        ids_out = [cls_id, *first, sep_id]
        types = [0] * len(ids_out)
        if second is not None:
            middle = [sep_id] if kind == "RobertaProcessing" else []  # RoBERTa: <s> A </s></s> B </s>
            tail = [*middle, *second, sep_id]
            ids_out += tail
            types += [1] * len(tail)
        return ids_out, types
    if kind == "TemplateProcessing":
        template = spec["single"] if second is None else spec["pair"]
        out_ids: list[int] = []
        out_types: list[int] = []
        for item in template:
            if "Sequence" in item:
                seq = first if item["Sequence"]["id"] == "A" else (second or [])
                out_ids += seq
                out_types += [item["Sequence"].get("type_id", 0)] * len(seq)
            else:
                name = item["SpecialToken"]["id"]
                special_ids = spec.get("special_tokens", {}).get(name, {}).get("ids")
                if special_ids is None:
                    raise ConfigError(f"{where}: post_processor uses special token {name!r} without its ids")
                out_ids += special_ids
                out_types += [item["SpecialToken"].get("type_id", 0)] * len(special_ids)
        return out_ids, out_types
    raise ConfigError(
        f"{where}: post_processor {kind!r} is not supported (supported: TemplateProcessing, BertProcessing, "
        "RobertaProcessing, ByteLevel, Sequence)"
    )
