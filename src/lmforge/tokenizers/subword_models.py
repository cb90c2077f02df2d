"""Subword models: one pre-tokenized word -> token ids (the ``model`` of a ``tokenizer.json``).

- :class:`WordPieceModel` (BERT): greedy longest-match-first. Take the longest
  vocabulary entry that starts the word, then continue with ``##``-prefixed
  entries: ``"unaffable"`` -> ``un ##aff ##able``. A word with any part not in
  the vocabulary becomes ``[UNK]`` as a whole.
- :class:`BPEModel` (GPT-2, Llama, SmolLM2, ...): start from characters, replay
  the learned merges by rank. Options cover the SentencePiece-converted
  variants: ``byte_fallback`` (an unknown character becomes its UTF-8 bytes
  ``<0xE2><0x82><0xAC>`` instead of ``<unk>``), ``ignore_merges`` (a word that
  is itself in the vocabulary is taken whole), subword prefixes and suffixes.
- :class:`WordLevelModel`: a plain word -> id lookup.
- :class:`~lmforge.tokenizers.unigram.UnigramModel` (T5, ALBERT, XLNet): the most probable split
  under per-piece log-probabilities.

Every model caches ``word -> ids``: natural text repeats its words.
"""

from __future__ import annotations

from typing import Any

from lmforge.errors import ConfigError
from lmforge.tokenizers.bpe import MergeTable, WordCache
from lmforge.tokenizers.unigram import UnigramModel

_CACHE_LIMIT = 500_000


class _CachedModel:
    vocab: dict[str, int]

    def __init__(self) -> None:
        self.encode_word = WordCache(self._encode_word, _CACHE_LIMIT).__getitem__

    def _encode_word(self, word: str) -> tuple[int, ...]:
        raise NotImplementedError


def _get(spec: dict[str, Any], key: str, where: str) -> Any:
    if key not in spec:
        raise ConfigError(f"{where}: model.{key} is missing")
    return spec[key]


def _vocab(spec: dict[str, Any], where: str) -> dict[str, int]:
    vocab = _get(spec, "vocab", where)
    if not isinstance(vocab, dict):
        raise ConfigError(f"{where}: model.vocab must be an object mapping token -> id")
    return {str(t): int(i) for t, i in vocab.items()}


def _unk_id(vocab: dict[str, int], unk: str | None, where: str) -> int | None:
    if unk is None:
        return None
    if unk not in vocab:
        raise ConfigError(f"{where}: model.unk_token {unk!r} is not in the vocab")
    return vocab[unk]


class WordPieceModel(_CachedModel):
    """Greedy longest-match-first WordPiece (HF ``WordPiece``)."""

    def __init__(
        self, vocab: dict[str, int], unk_token: str = "[UNK]", prefix: str = "##", max_chars: int = 100
    ) -> None:
        self.vocab, self.prefix, self.max_chars = vocab, prefix, max_chars
        self.unk_id = _unk_id(vocab, unk_token, "WordPiece")
        self._longest = max(map(len, vocab), default=1)  # no match can be longer than this
        super().__init__()

    def _encode_word(self, word: str) -> tuple[int, ...]:
        if len(word) > self.max_chars:
            return (self.unk_id,)
        ids: list[int] = []
        start, n = 0, len(word)
        while start < n:
            prefix = self.prefix if start else ""
            for end in range(min(n, start + self._longest), start, -1):  # longest candidate first
                token_id = self.vocab.get(prefix + word[start:end])
                if token_id is not None:
                    ids.append(token_id)
                    start = end
                    break
            else:
                return (self.unk_id,)  # some piece of the word is not in the vocab
        return tuple(ids)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], where: str) -> WordPieceModel:
        return cls(
            _vocab(spec, where), spec.get("unk_token", "[UNK]"), spec.get("continuing_subword_prefix", "##"),
            spec.get("max_input_chars_per_word", 100),
        )


class WordLevelModel(_CachedModel):
    """Whole words looked up in a vocabulary (HF ``WordLevel``)."""

    def __init__(self, vocab: dict[str, int], unk_token: str | None) -> None:
        self.vocab = vocab
        self.unk_id = _unk_id(vocab, unk_token, "WordLevel")
        super().__init__()

    def _encode_word(self, word: str) -> tuple[int, ...]:
        token_id = self.vocab.get(word, self.unk_id)
        if token_id is None:
            raise ConfigError(f"word {word!r} is not in the WordLevel vocab and the model has no unk_token")
        return (token_id,)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], where: str) -> WordLevelModel:
        return cls(_vocab(spec, where), spec.get("unk_token"))


class BPEModel(_CachedModel):
    """Character-level BPE over vocabulary strings (HF ``BPE``), with HF's options."""

    def __init__(
        self,
        vocab: dict[str, int],
        merges: list[tuple[str, str]],
        unk_token: str | None = None,
        prefix: str = "",
        suffix: str = "",
        fuse_unk: bool = False,
        byte_fallback: bool = False,
        ignore_merges: bool = False,
    ) -> None:
        self.vocab, self.prefix, self.suffix = vocab, prefix, suffix
        self.unk_id = _unk_id(vocab, unk_token, "BPE")
        self.fuse_unk, self.byte_fallback, self.ignore_merges = fuse_unk, byte_fallback, ignore_merges
        triples = []
        for k, (a, b) in enumerate(merges):
            new = a + b[len(prefix):]  # "##"-style prefixes are dropped from the right part, as in HF
            ids = (vocab.get(a), vocab.get(b), vocab.get(new))
            if None in ids:
                raise ConfigError(f"BPE merge #{k} ({a!r}, {b!r}) uses or makes a token that is not in the vocab")
            triples.append(ids)
        self._merges = MergeTable(triples)
        self._byte_ids = [vocab.get(f"<0x{b:02X}>") for b in range(256)]
        super().__init__()

    def _encode_word(self, word: str) -> tuple[int, ...]:
        if self.ignore_merges and word in self.vocab:
            return (self.vocab[word],)
        return tuple(self._merges.apply(self._initial_ids(word)))

    def _initial_ids(self, word: str) -> list[int]:
        """One id per character (with prefix/suffix), byte tokens or ``unk`` for unknown ones."""
        ids: list[int] = []
        unk_pending = False  # consecutive unknown characters fuse into one unk when fuse_unk
        last = len(word) - 1
        for i, ch in enumerate(word):
            symbol = (self.prefix if i else "") + ch + (self.suffix if i == last else "")
            token_id = self.vocab.get(symbol)
            if token_id is not None:
                ids.append(token_id)
                unk_pending = False
                continue
            if self.byte_fallback:
                byte_ids = [self._byte_ids[b] for b in symbol.encode("utf-8")]
                if None not in byte_ids:
                    ids.extend(byte_ids)  # type: ignore[arg-type]
                    continue
            if self.unk_id is None:
                continue  # HF drops characters it cannot represent
            if not (self.fuse_unk and unk_pending):
                ids.append(self.unk_id)
            unk_pending = True
        return ids

    @classmethod
    def from_spec(cls, spec: dict[str, Any], where: str) -> BPEModel:
        if spec.get("dropout") not in (None, 0, 0.0):
            raise ConfigError(f"{where}: BPE dropout (random segmentation) is not supported")
        merges: list[tuple[str, str]] = []
        for rank, m in enumerate(spec.get("merges") or []):
            parts = m.split(" ") if isinstance(m, str) else m  # "a b" (older files) or ["a", "b"]
            if not isinstance(parts, list) or len(parts) != 2:
                raise ConfigError(f"{where}: model.merges[{rank}] = {m!r} is not a pair of tokens")
            merges.append((parts[0], parts[1]))
        return cls(
            _vocab(spec, where), merges, spec.get("unk_token"), spec.get("continuing_subword_prefix") or "",
            spec.get("end_of_word_suffix") or "", bool(spec.get("fuse_unk")), bool(spec.get("byte_fallback")),
            bool(spec.get("ignore_merges")),
        )


def build_model(spec: dict[str, Any], where: str) -> BPEModel | WordPieceModel | WordLevelModel | UnigramModel:
    """The ``model`` section of a ``tokenizer.json``."""
    kind = spec.get("type") or ("BPE" if "merges" in spec else None)
    models = {"BPE": BPEModel, "WordPiece": WordPieceModel, "WordLevel": WordLevelModel, "Unigram": UnigramModel}
    if kind not in models:
        raise ConfigError(f"{where}: tokenizer model type {kind!r} is not supported; supported: {', '.join(models)}")
    return models[kind].from_spec(spec, where)
