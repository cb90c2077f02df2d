"""Byte-level BPE (GPT-2 style): training, fast encoding, HF / OpenAI file formats.

Encoding, for a learner
-----------------------
1. Cut out allowed special tokens (``<|endoftext|>``) - they map to one id.
2. Pre-tokenize the rest with the GPT-2 regex into words (``" the"``, ``"!"``).
3. For each word: start from its UTF-8 bytes, then repeatedly merge the
   adjacent pair with the *lowest merge rank* (learned earliest) until no
   adjacent pair is a known merge. This replays training's merges in order.

Step 3 is slow in Python, but natural text repeats the same words over and
over, so a ``word -> ids`` cache makes almost every word a dict lookup; the
regex in step 2 ends up dominating the cost.

BPE dropout (Provilkov et al. 2020), for training data: with ``dropout=p`` each
merge about to be applied is skipped with probability p, so the same word is
split differently from one encoding to the next (``" unrelated"`` ->
``" un" "related"`` or ``" unre" "lated"``...). A model trained on such text sees
the pieces that make up its tokens and copes better with rare words and typos;
decoding is unchanged, and so is encoding with p=0 (what inference uses: the
saved ``tokenizer.json`` never carries a dropout).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError, LmforgeError
from lmforge.io import read_json, read_text, write_json
from lmforge.tokenizers.base import AllowedSpecial, Tokenizer
from lmforge.tokenizers.bpe_train import count_words, learn_bpe
from lmforge.tokenizers.hf_json import (
    bpe_model_json,
    component_type,
    parse_added_tokens,
    parse_bpe_model,
    require_no_normalizer,
    resolve_json_path,
    tokenizer_json,
)
from lmforge.tokenizers.pretokenize import (
    bytes_to_token_str,
    gpt2_split,
    resolve_allowed_special,
    split_special,
    token_str_to_bytes,
)

DEFAULT_SPECIALS = ("<|endoftext|>",)


class MergeTable:
    """A BPE's learned merges as token ids, and the one loop that replays them on a word.

    Built from ``(left id, right id, merged id)`` in rank order; a pair listed twice
    takes its *last* rank, as HF ``tokenizers`` does. Both the byte-level GPT-2
    tokenizer and the ``tokenizer.json`` BPE model (:mod:`lmforge.tokenizers.subword_models`)
    encode through :meth:`apply`, so they cannot drift apart.
    """

    def __init__(self, merges: Iterable[tuple[int, int, int]]) -> None:
        self.merged: dict[tuple[int, int], int] = {}  # (left id, right id) -> merged id, in rank order
        for left, right, new in merges:
            self.merged.pop((left, right), None)
            self.merged[left, right] = new
        self.pairs: list[tuple[int, int]] = list(self.merged)  # rank -> pair (dicts keep insertion order)
        self.ranks: dict[tuple[int, int], int] = {pair: rank for rank, pair in enumerate(self.pairs)}

    def apply(self, parts: list[int], dropout: float = 0.0, rng: random.Random | None = None) -> list[int]:
        """BPE on one word's initial ids: merge the adjacent pair with the lowest rank (learned
        earliest; the leftmost among equals) until no adjacent pair is a merge, as HF's
        ``Word::merge_all``.

        A heap holds candidate merges ``(rank, position)`` and the symbols live in a linked
        list, so a merge is O(1) and a word of n symbols costs O(n log n) (rescanning all
        pairs after each merge would be O(n^2) on long words). Entries made stale by an
        earlier merge are recognised and skipped.

        With ``dropout`` each merge about to be made is skipped with that probability (drawn from
        ``rng``) and offered again after the next merge that happens, as HF ``tokenizers`` does;
        the word is done when every remaining candidate was skipped in a row.
        """
        ranks, merged = self.ranks, self.merged
        heap = [(ranks[p], i) for i, p in enumerate(pairwise(parts)) if p in ranks]
        if not heap:
            return parts  # no adjacent pair is a merge (a single byte, or an unusual word)
        heapq.heapify(heap)
        n = len(parts)
        ids, prev, nxt = list(parts), list(range(-1, n - 1)), [*range(1, n), -1]
        alive = [True] * n
        pop, push = heapq.heappop, heapq.heappush
        skipped: list[tuple[int, int]] = []
        while heap:
            rank, pos = pop(heap)
            right = nxt[pos]
            if not alive[pos] or right == -1 or ranks.get((ids[pos], ids[right])) != rank:
                continue  # stale: one of the two symbols has changed since this entry was pushed
            if dropout and rng.random() < dropout:  # type: ignore[union-attr]
                skipped.append((rank, pos))
                continue
            for entry in skipped:
                push(heap, entry)
            skipped.clear()
            ids[pos] = merged[ids[pos], ids[right]]
            alive[right] = False
            nxt[pos] = nxt[right]
            if nxt[pos] != -1:
                prev[nxt[pos]] = pos
            for left in (prev[pos], pos):  # the two new neighbouring pairs
                if left != -1 and nxt[left] != -1 and (r := ranks.get((ids[left], ids[nxt[left]]))) is not None:
                    push(heap, (r, left))
        return [t for t, keep in zip(ids, alive, strict=True) if keep]


class WordCache(dict[str, tuple[int, ...]]):
    """``word -> ids``; a miss runs BPE on the word and remembers the result."""

    def __init__(self, encode_word: Callable[[str], tuple[int, ...]], limit: int) -> None:
        super().__init__()
        self._encode_word = encode_word
        self._limit = limit  # bounds memory on endless, ever-new text (e.g. a server)

    def __missing__(self, word: str) -> tuple[int, ...]:
        ids = self._encode_word(word)
        if len(self) >= self._limit:
            self.clear()
        self[word] = ids
        return ids


class ByteLevelBPE(Tokenizer):
    """A GPT-2 style byte-level BPE tokenizer.

    ``vocab`` maps token bytes to ids and must contain all 256 single bytes
    (so any text can be encoded); ``merges`` lists ``(left, right)`` token
    bytes in rank order; ``special_tokens`` maps special strings to ids that
    are not used by ``vocab``.
    """

    #: the word cache is cleared when it grows past this many entries
    cache_limit = 500_000

    def __init__(
        self,
        vocab: Mapping[bytes, int],
        merges: Sequence[tuple[bytes, bytes]],
        special_tokens: Mapping[str, int] | None = None,
        dropout: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.special_tokens = dict(special_tokens or {})
        self.set_dropout(dropout, seed)
        self._token_ids: dict[bytes, int] = dict(vocab)
        missing = [b for b in range(256) if bytes([b]) not in self._token_ids]
        if missing:
            raise ConfigError(
                f"a byte-level BPE vocab must contain all 256 single bytes; missing {len(missing)}, "
                f"e.g. byte 0x{missing[0]:02x}"
            )
        self._byte_ids: list[int] = [self._token_ids[bytes([b])] for b in range(256)]

        # id -> bytes for decoding; special tokens decode to their own text.
        self._id_to_bytes: dict[int, bytes] = {i: t for t, i in self._token_ids.items()}
        if len(self._id_to_bytes) != len(self._token_ids):
            raise ConfigError("the vocab gives the same id to two different tokens")
        for s, i in self.special_tokens.items():
            if i in self._id_to_bytes:
                raise ConfigError(f"special token {s!r} has id {i}, which the vocab already uses")
            self._id_to_bytes[i] = s.encode("utf-8")

        triples = []
        for k, (left, right) in enumerate(merges):
            ids = [self._token_ids.get(t) for t in (left, right, left + right)]
            if None in ids:
                raise ConfigError(
                    f"merge #{k} ({left!r}, {right!r}) uses or makes a token that is not in the vocab"
                )
            triples.append(tuple(ids))
        self._merges = MergeTable(triples)
        self.merges: list[tuple[int, int]] = self._merges.pairs  # (left id, right id) in rank order
        self._init_cache()

    def set_dropout(self, dropout: float, seed: int = 0) -> None:
        """BPE dropout for encoding from now on (0 turns it off); ``seed`` makes the draws repeatable."""
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"BPE dropout must be in [0, 1), got {dropout}")
        self.dropout, self._rng = dropout, random.Random(seed)

    def _init_cache(self) -> None:
        self._cache = WordCache(self._encode_word, self.cache_limit)
        self._lookup = self._cache.__getitem__

    def __getstate__(self) -> dict[str, Any]:
        # Pickling (e.g. for DataLoader workers) ships the tables, not the cache.
        return {k: v for k, v in self.__dict__.items() if k not in ("_cache", "_lookup")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_cache()

    # ------------------------------------------------------------------ build
    @classmethod
    def train(
        cls,
        texts: str | Iterable[str],
        vocab_size: int,
        special_tokens: Sequence[str] = DEFAULT_SPECIALS,
        progress: bool = False,
        dropout: float = 0.0,
    ) -> ByteLevelBPE:
        """Learn a BPE with exactly ``vocab_size`` ids (256 bytes + merges + specials).

        ``texts`` is one string or an iterable of documents; special-token
        strings inside them are treated as separators, never learned. ``dropout``:
        the returned tokenizer encodes with BPE dropout (for the training data).
        """
        specials = list(dict.fromkeys(special_tokens))
        if vocab_size < 256 + len(specials):
            raise ConfigError(
                f"vocab_size must be at least 256 (one id per byte) + {len(specials)} special tokens "
                f"= {256 + len(specials)}, got {vocab_size}"
            )
        if isinstance(texts, str):
            texts = [texts]
        counts = count_words(texts, specials)
        result = learn_bpe(counts, vocab_size - len(specials), progress=progress, reserved_ids=len(specials))
        vocab = {t: i for i, t in enumerate(result.tokens)}
        merges = [(result.tokens[a], result.tokens[b]) for a, b in result.merges]
        n = len(result.tokens)
        return cls(vocab, merges, {s: n + k for k, s in enumerate(specials)}, dropout=dropout)

    @classmethod
    def from_gpt2_files(cls, encoder_json: str | Path, vocab_bpe: str | Path) -> ByteLevelBPE:
        """Load OpenAI's GPT-2 ``encoder.json`` (token -> id) and ``vocab.bpe`` (merges)."""
        encoder = read_json(encoder_json, "GPT-2 encoder.json")
        if not isinstance(encoder, dict):
            raise ConfigError(f"{encoder_json}: expected a JSON object mapping token -> id")
        merges: list[tuple[str, str]] = []
        for lineno, line in enumerate(read_text(vocab_bpe).split("\n"), start=1):
            if not line or (lineno == 1 and line.startswith("#version")):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ConfigError(
                    f"{vocab_bpe}: line {lineno}: expected two tokens 'left right', got {line!r}"
                )
            merges.append((parts[0], parts[1]))
        # GPT-2's only special token lives inside encoder.json.
        specials = {s: encoder[s] for s in DEFAULT_SPECIALS if s in encoder}
        return cls._from_token_strings(encoder, merges, specials, where=str(encoder_json))

    @classmethod
    def from_hf_json(cls, doc: dict[str, Any], path: Path) -> ByteLevelBPE:
        """Build from a parsed HF ``tokenizer.json`` (byte-level BPE pipelines only)."""
        require_no_normalizer(doc, path)
        pre = doc.get("pre_tokenizer")
        if component_type(pre) != "ByteLevel":
            raise ConfigError(
                f"{path}: pre_tokenizer {component_type(pre)!r} is not supported for BPE; "
                "expected ByteLevel (GPT-2 style)"
            )
        if pre.get("add_prefix_space", False) or not pre.get("use_regex", True):
            raise ConfigError(
                f"{path}: ByteLevel pre_tokenizer must have add_prefix_space=false and use_regex=true "
                f"(got add_prefix_space={pre.get('add_prefix_space')}, use_regex={pre.get('use_regex')})"
            )
        vocab, merges = parse_bpe_model(doc, path)
        return cls._from_token_strings(vocab, merges, parse_added_tokens(doc, path), where=str(path))

    @classmethod
    def load(cls, path: str | Path) -> ByteLevelBPE:
        """Read a ``tokenizer.json`` written by :meth:`save` (or HF's GPT-2 one)."""
        path = resolve_json_path(path)
        return cls.from_hf_json(read_json(path, "tokenizer file"), path)

    @classmethod
    def _from_token_strings(
        cls,
        vocab: Mapping[str, int],
        merges: Sequence[tuple[str, str]],
        specials: Mapping[str, int],
        where: str,
    ) -> ByteLevelBPE:
        """Convert byte-level strings (``"Ġthe"``) to bytes and build the tokenizer."""
        special_ids = set(specials.values())
        byte_vocab: dict[bytes, int] = {}
        try:
            for tok, i in vocab.items():
                if i not in special_ids:  # HF files list specials in the vocab too
                    byte_vocab[token_str_to_bytes(tok)] = int(i)
            byte_merges = [(token_str_to_bytes(a), token_str_to_bytes(b)) for a, b in merges]
        except KeyError as e:
            raise ConfigError(
                f"{where}: token contains {e.args[0]!r}, which is not a byte-level character; "
                "only GPT-2 style byte-level BPE vocabularies are supported"
            ) from None
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: the vocab must map token strings to integer ids") from None
        try:
            return cls(byte_vocab, byte_merges, specials)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None

    # ---------------------------------------------------------------- encode
    @property
    def vocab_size(self) -> int:
        return max(self._id_to_bytes) + 1

    def encode(self, text: str, allowed_special: AllowedSpecial = "none") -> list[int]:
        return self._encode(text, resolve_allowed_special(allowed_special, self.special_tokens))

    def encode_batch(self, texts: Sequence[str], allowed_special: AllowedSpecial = "none") -> list[list[int]]:
        allowed = resolve_allowed_special(allowed_special, self.special_tokens)  # once, not per text
        encode = self._encode
        return [encode(t, allowed) for t in texts]

    def _encode(self, text: str, allowed: frozenset[str]) -> list[int]:
        for special in allowed:
            if special in text:  # a C substring search; most texts contain no special at all
                break
        else:
            return self.encode_ordinary(text)
        ids: list[int] = []
        for piece, is_special in split_special(text, allowed):
            if is_special:
                ids.append(self.special_tokens[piece])
            else:
                ids.extend(self.encode_ordinary(piece))
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode treating special-token strings as plain text."""
        # Equivalent to: for each word, extend ids with cache[word]; but map/chain
        # run the loop in C, and a cache miss calls WordCache.__missing__.
        # With dropout every occurrence is split anew, so the cache is bypassed.
        lookup = self._encode_word if self.dropout else self._lookup
        return list(chain.from_iterable(map(lookup, gpt2_split(text))))

    def _encode_word(self, word: str) -> tuple[int, ...]:
        """BPE one pre-tokenized word (the cache-miss path)."""
        try:
            data = word.encode("utf-8")
        except UnicodeEncodeError as e:
            raise LmforgeError(
                f"text contains the lone surrogate U+{ord(word[e.start]):04X}, which is not valid Unicode "
                "text and cannot be encoded as UTF-8"
            ) from None
        byte_ids = self._byte_ids
        return tuple(self._merges.apply([byte_ids[b] for b in data], self.dropout, self._rng))

    # ---------------------------------------------------------------- decode
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Concatenate token bytes; useful when streaming (a token may end mid-character)."""
        if hasattr(ids, "tolist"):  # torch / numpy arrays
            ids = ids.tolist()
        ids = list(ids)
        table = self._id_to_bytes
        try:
            return b"".join([table[i] for i in ids])
        except (KeyError, TypeError):
            for pos, i in enumerate(ids):
                if not isinstance(i, int) or i not in table:
                    raise LmforgeError(
                        f"token id {i!r} at position {pos} is not in this tokenizer's vocabulary "
                        f"(valid ids are 0..{self.vocab_size - 1})"
                    ) from None
            raise

    def decode(self, ids: Iterable[int]) -> str:
        # Invalid UTF-8 (a partial character) becomes U+FFFD, as in GPT-2.
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token id (for inspecting the vocabulary)."""
        return self.decode_bytes([token_id])

    # ------------------------------------------------------------------ save
    def to_hf_json(self) -> dict[str, Any]:
        vocab = {bytes_to_token_str(t): i for t, i in self._token_ids.items()}
        for s, i in self.special_tokens.items():
            if vocab.setdefault(s, i) != i:
                raise ConfigError(f"special token {s!r} spells the same string as ordinary token {vocab[s]}")
        tokens = {i: t for t, i in vocab.items()}
        merges = [(tokens[a], tokens[b]) for a, b in self.merges]
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
        return tokenizer_json(bpe_model_json(vocab, merges), self.special_tokens, byte_level, byte_level)

    def save(self, path: str | Path) -> None:
        write_json(resolve_json_path(path), self.to_hf_json())

    def __repr__(self) -> str:
        n_merges = len(self.merges)
        return (
            f"ByteLevelBPE(vocab_size={self.vocab_size}, merges={n_merges}, specials={self.special_tokens})"
        )
