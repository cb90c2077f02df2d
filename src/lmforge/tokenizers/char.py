"""Character-level tokenizer: one id per distinct character of the training text.

The simplest possible tokenizer (as in the classic char-RNN / nanoGPT
Shakespeare demos): tiny vocabulary, long sequences, nothing to learn. A
character never seen in training has no id, so encoding it is an error
rather than a silent drop that would shift everything after it.

HF representation: a ``BPE`` model with no merges and no pre-tokenizer
splits text into single characters and looks each one up - exactly our
encoding - and a ``Fuse`` decoder joins them back without spaces. (It is
~3x faster in HF than a WordLevel model behind a per-character Split.)
Its ``unk_token`` names no vocab entry, so HF raises on an unknown character
as we do, instead of silently dropping it (what it does with no ``unk_token``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError, DataError, LmforgeError
from lmforge.io import read_json, write_json
from lmforge.tokenizers.base import AllowedSpecial, Tokenizer
from lmforge.tokenizers.hf_json import (
    REFUSE_UNKNOWN,
    bpe_model_json,
    component_type,
    parse_added_tokens,
    parse_bpe_model,
    require_no_normalizer,
    resolve_json_path,
    tokenizer_json,
)
from lmforge.tokenizers.pretokenize import resolve_allowed_special, split_special

DEFAULT_SPECIALS = ("<|endoftext|>",)


class CharTokenizer(Tokenizer):
    """``vocab`` maps single characters to ids; ``special_tokens`` maps strings to other ids."""

    def __init__(self, vocab: Mapping[str, int], special_tokens: Mapping[str, int] | None = None) -> None:
        bad = [c for c in vocab if len(c) != 1]
        if bad:
            raise ConfigError(f"a char tokenizer's vocab must hold single characters; got {bad[0]!r}")
        self._stoi: dict[str, int] = dict(vocab)
        self.special_tokens = dict(special_tokens or {})
        self._itos: dict[int, str] = {i: c for c, i in self._stoi.items()}
        if len(self._itos) != len(self._stoi):
            raise ConfigError("a char tokenizer's vocab gives the same id to two characters")
        for s, i in self.special_tokens.items():
            if i in self._itos:
                raise ConfigError(
                    f"special token {s!r} has id {i}, which character {self._itos[i]!r} already uses"
                )
            self._itos[i] = s

    @classmethod
    def train(
        cls, texts: str | Iterable[str], special_tokens: Sequence[str] = DEFAULT_SPECIALS
    ) -> CharTokenizer:
        """Vocab = the sorted distinct characters of ``texts``, then the special tokens.

        Characters of special-token strings found in the text are kept too, so
        the text can still be encoded with ``allowed_special="none"``.
        """
        if isinstance(texts, str):
            texts = [texts]
        chars: set[str] = set()
        for t in texts:
            chars.update(t)
        if not chars:
            raise DataError("the training corpus is empty: a char tokenizer needs at least one character")
        ordered = sorted(chars)
        specials = list(dict.fromkeys(special_tokens))
        return cls(
            {c: i for i, c in enumerate(ordered)},
            {s: len(ordered) + k for k, s in enumerate(specials)},
        )

    @property
    def vocab_size(self) -> int:
        return max(self._itos) + 1

    @property
    def chars(self) -> list[str]:
        """The alphabet, in id order."""
        return sorted(self._stoi, key=self._stoi.__getitem__)

    def encode(self, text: str, allowed_special: AllowedSpecial = "none") -> list[int]:
        allowed = resolve_allowed_special(allowed_special, self.special_tokens)
        ids: list[int] = []
        offset = 0  # position of the current piece in `text`, for error messages
        for piece, is_special in split_special(text, allowed):
            if is_special:
                ids.append(self.special_tokens[piece])
            else:
                ids.extend(self._encode_chars(piece, offset))
            offset += len(piece)
        return ids

    def _encode_chars(self, piece: str, offset: int) -> list[int]:
        try:
            return list(map(self._stoi.__getitem__, piece))
        except KeyError:
            pos, ch = next((k, c) for k, c in enumerate(piece) if c not in self._stoi)
            raise LmforgeError(
                f"character {ch!r} (U+{ord(ch):04X}) at position {offset + pos} is not in the char "
                f"tokenizer's vocabulary ({len(self._stoi)} characters seen in training)"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        if hasattr(ids, "tolist"):  # torch / numpy arrays
            ids = ids.tolist()
        ids = list(ids)
        try:
            return "".join([self._itos[i] for i in ids])
        except (KeyError, TypeError):
            pos, bad = next(
                (k, i) for k, i in enumerate(ids) if not isinstance(i, int) or i not in self._itos
            )
            raise LmforgeError(
                f"token id {bad!r} at position {pos} is not in this tokenizer's vocabulary "
                f"(valid ids are 0..{self.vocab_size - 1})"
            ) from None

    # ------------------------------------------------------------------ files
    def to_hf_json(self) -> dict[str, Any]:
        vocab = {**self._stoi, **self.special_tokens}
        model = {**bpe_model_json(vocab, []), "unk_token": REFUSE_UNKNOWN}
        return tokenizer_json(model, self.special_tokens, None, {"type": "Fuse"})

    def save(self, path: str | Path) -> None:
        write_json(resolve_json_path(path), self.to_hf_json())

    @classmethod
    def from_hf_json(cls, doc: dict[str, Any], path: Path) -> CharTokenizer:
        require_no_normalizer(doc, path)
        if doc.get("pre_tokenizer") is not None or component_type(doc.get("decoder")) != "Fuse":
            raise ConfigError(
                f"{path}: not an lmforge char tokenizer (expected no pre_tokenizer and a Fuse decoder)"
            )
        vocab, merges = parse_bpe_model(doc, path)
        if merges:
            raise ConfigError(f"{path}: a char tokenizer has no merges, found {len(merges)}")
        specials = parse_added_tokens(doc, path)
        try:
            return cls({c: int(i) for c, i in vocab.items() if c not in specials}, specials)
        except (ConfigError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: {e}") from None

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        path = resolve_json_path(path)
        return cls.from_hf_json(read_json(path, "tokenizer file"), path)

    def __repr__(self) -> str:
        return f"CharTokenizer(chars={len(self._stoi)}, specials={self.special_tokens})"
