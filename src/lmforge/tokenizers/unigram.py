"""The Unigram language-model tokenizer (Kudo 2018; SentencePiece's default, shipped by T5, ALBERT, XLNet).

BPE *builds* a vocabulary by merging; Unigram *prunes* one. Each piece has a log-probability, a
word's pieces are independent draws, and a word is split the most probable way (Viterbi over the
lattice of all pieces that occur in it). Training (:func:`train_unigram`):

1. seed: every substring of a word (up to ``max_piece_len`` characters) that is frequent enough,
   plus every character, scored by log relative frequency;
2. EM: the E-step sums, over *all* segmentations of every word (forward-backward), how often each
   piece is expected to be used; the M-step turns expected counts into new log-probabilities;
3. prune: a piece's *loss* is how much the corpus likelihood drops if the piece goes and its
   words fall back to their next-best split; keep the ``shrink`` fraction with the largest loss
   (characters always stay, so every word stays encodable), and repeat 2-3 down to the target size.

:class:`UnigramModel` is the ``model`` of a ``tokenizer.json`` of type ``Unigram``, encoding
exactly as HF ``tokenizers`` does (its Viterbi, tie-breaking, unknown-character penalty, fused
unknowns and byte fallback).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from lmforge.errors import ConfigError
from lmforge.tokenizers.bpe import WordCache
from lmforge.tokenizers.hf_json import tokenizer_json

UNK_PENALTY = 10.0  # an unknown character scores this far below the least likely piece (HF, SentencePiece)
METASPACE = "▁"  # SentencePiece's visible space: "▁the" is "the" at the start of a word


class UnigramModel:
    """Viterbi segmentation over scored pieces (HF ``Unigram``); ``vocab`` maps piece -> id."""

    def __init__(self, pieces: Sequence[tuple[str, float]], unk_id: int | None, byte_fallback: bool = False) -> None:
        self.pieces = [(str(p), float(s)) for p, s in pieces]
        self.vocab = {p: i for i, (p, _) in enumerate(self.pieces)}
        if unk_id is not None and not 0 <= unk_id < len(self.pieces):
            raise ConfigError(f"Unigram: unk_id {unk_id} is outside the {len(self.pieces)}-piece vocab")
        self.unk_id, self.byte_fallback = unk_id, byte_fallback
        self.unk_score = min((s for _, s in self.pieces), default=0.0) - UNK_PENALTY
        self.max_len = max((len(p) for p, _ in self.pieces), default=1)
        self._byte_ids = [self.vocab.get(f"<0x{b:02X}>") for b in range(256)]
        self.encode_word = WordCache(self._encode_word, 500_000).__getitem__

    def segment(self, word: str) -> list[str]:
        """The most probable split of ``word`` (consecutive unknown characters fused into one piece)."""
        n = len(word)
        best: list[tuple[float, int, int] | None] = [None] * (n + 1)  # (score, start, id) of the best path to i
        best[0] = (0.0, 0, -1)
        for start in range(n):
            here = best[start][0]  # type: ignore[index]
            single = False
            for end in range(start + 1, min(n, start + self.max_len) + 1):  # trie order: shorter first
                piece_id = self.vocab.get(word[start:end])
                if piece_id is None:
                    continue
                score = here + self.pieces[piece_id][1]
                if best[end] is None or score > best[end][0]:  # type: ignore[index]
                    best[end] = (score, start, piece_id)
                single = single or end == start + 1
            if not single:  # no piece covers this character: the unknown token, heavily penalised
                if self.unk_id is None:
                    raise ConfigError(f"Unigram: {word[start]!r} is not in the vocab and the model has no unk_id")
                score = here + self.unk_score
                if best[start + 1] is None or score > best[start + 1][0]:  # type: ignore[index]
                    best[start + 1] = (score, start, self.unk_id)
        pieces: list[str] = []
        end, unknown = n, ""
        while end > 0:
            _, start, piece_id = best[end]  # type: ignore[misc]
            if piece_id == self.unk_id:
                unknown = word[start:end] + unknown
            else:
                if unknown:
                    pieces.append(unknown)
                    unknown = ""
                pieces.append(word[start:end])
            end = start
        if unknown:
            pieces.append(unknown)
        return pieces[::-1]

    def _encode_word(self, word: str) -> tuple[int, ...]:
        ids: list[int] = []
        for piece in self.segment(word):
            piece_id = self.vocab.get(piece)
            if piece_id is None and self.byte_fallback:
                byte_ids = [self._byte_ids[b] for b in piece.encode("utf-8")]
                if None not in byte_ids:
                    ids.extend(byte_ids)  # type: ignore[arg-type]
                    continue
            ids.append(self.unk_id if piece_id is None else piece_id)  # type: ignore[arg-type]
        return tuple(ids)

    @classmethod
    def from_spec(cls, spec: dict[str, Any], where: str) -> UnigramModel:
        vocab = spec.get("vocab")
        if not isinstance(vocab, list) or not all(isinstance(e, list) and len(e) == 2 for e in vocab):
            raise ConfigError(f"{where}: model.vocab of a Unigram model must be a list of [piece, score] pairs")
        return cls([(p, s) for p, s in vocab], spec.get("unk_id"), bool(spec.get("byte_fallback", False)))

    def to_spec(self) -> dict[str, Any]:
        return {"type": "Unigram", "unk_id": self.unk_id, "vocab": [[p, s] for p, s in self.pieces],
                "byte_fallback": self.byte_fallback}


# ----------------------------------------------------------------------------------------- training

def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


class _Lattice:
    """Forward-backward and Viterbi over one word for a {piece: log-probability} table."""

    def __init__(self, scores: dict[str, float], max_len: int) -> None:
        self.scores, self.max_len = scores, max_len

    def edges(self, word: str) -> list[tuple[int, int, str]]:
        n = len(word)
        return [(i, j, word[i:j]) for i in range(n) for j in range(i + 1, min(n, i + self.max_len) + 1)
                if word[i:j] in self.scores]

    def expected_counts(self, word: str, count: int, into: dict[str, float]) -> float:
        """Add ``count`` x the expected uses of each piece in ``word`` to ``into``; return count x log p(word)."""
        n, edges = len(word), self.edges(word)
        alpha, beta = [-math.inf] * (n + 1), [-math.inf] * (n + 1)
        alpha[0], beta[n] = 0.0, 0.0
        for i, j, piece in edges:  # sorted by start: alpha[i] is final when its edges are read
            alpha[j] = _logsumexp(alpha[j], alpha[i] + self.scores[piece])
        for i, j, piece in reversed(edges):
            beta[i] = _logsumexp(beta[i], beta[j] + self.scores[piece])
        z = alpha[n]
        for i, j, piece in edges:
            into[piece] = into.get(piece, 0.0) + count * math.exp(alpha[i] + self.scores[piece] + beta[j] - z)
        return count * z

    def viterbi(self, word: str, banned: str | None = None) -> tuple[float, list[str]]:
        n = len(word)
        best: list[tuple[float, int]] = [(0.0, 0)] + [(-math.inf, 0)] * n
        for i, j, piece in self.edges(word):
            if piece != banned and best[i][0] + self.scores[piece] > best[j][0]:
                best[j] = (best[i][0] + self.scores[piece], i)
        pieces, end = [], n
        while end > 0:
            start = best[end][1]
            pieces.append(word[start:end])
            end = start
        return best[n][0], pieces[::-1]


def _normalise(counts: dict[str, float]) -> dict[str, float]:
    total = sum(counts.values())
    return {p: math.log(c / total) for p, c in counts.items() if c > 0}


def word_counts(texts: str | Iterable[str]) -> Counter[str]:
    """Whitespace-split words with SentencePiece's ``▁`` prepended, counted."""
    texts = [texts] if isinstance(texts, str) else texts
    return Counter(METASPACE + w for text in texts for w in text.split())


def train_unigram(
    texts: str | Iterable[str], vocab_size: int, special_tokens: Sequence[str] = ("<unk>",),
    max_piece_len: int = 16, seed_factor: int = 8, shrink: float = 0.75, em_steps: int = 2,
) -> list[tuple[str, float]]:
    """Learn ``vocab_size`` scored pieces (specials first, score 0); see the module docstring."""
    words = word_counts(texts)
    chars = {c for w in words for c in w}
    target = vocab_size - len(special_tokens)
    if target < len(chars):
        raise ConfigError(f"vocab_size {vocab_size} is below the {len(chars)} characters of the corpus "
                          f"plus {len(special_tokens)} special tokens")
    seed: Counter[str] = Counter()
    for w, c in words.items():  # a "▁" may only begin a piece, as in SentencePiece
        for i in range(len(w)):
            for j in range(i + 2, min(len(w), i + max_piece_len) + 1):
                if METASPACE not in w[i + 1:j]:
                    seed[w[i:j]] += c
    counts = {p: float(c) for p, c in seed.most_common(seed_factor * target)} | {
        c: float(sum(n for w, n in words.items() if c in w)) for c in chars}
    scores = _normalise(counts)
    while True:
        for _ in range(em_steps):
            expected: dict[str, float] = {}
            lattice = _Lattice(scores, max_piece_len)
            for w, c in words.items():
                lattice.expected_counts(w, c, expected)
            scores = _normalise({p: e for p, e in expected.items() if e >= 0.5 or p in chars})
        if len(scores) <= target:
            break
        scores = _prune(scores, words, chars, max(target, int(shrink * len(scores))), max_piece_len)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return [(s, 0.0) for s in special_tokens] + ranked[:target]


def _prune(scores: dict[str, float], words: Counter[str], chars: set[str], keep: int,
           max_len: int) -> dict[str, float]:
    """The ``keep`` pieces whose removal would cost the corpus the most log-likelihood (chars always kept)."""
    lattice = _Lattice(scores, max_len)
    used: Counter[str] = Counter()
    for w, c in words.items():
        for piece in lattice.viterbi(w)[1]:
            used[piece] += c
    loss = {}
    for piece, score in scores.items():
        if piece in chars:
            continue
        alternative = lattice.viterbi(piece, banned=piece)[0]  # the piece's own best split without it
        loss[piece] = used[piece] * (score - alternative)
    survivors = sorted(loss, key=lambda p: -loss[p])[: keep - len(chars)]
    return _normalise({p: math.exp(scores[p]) for p in [*survivors, *chars]})


def unigram_tokenizer_json(pieces: Sequence[tuple[str, float]], special_tokens: Sequence[str]) -> dict[str, Any]:
    """A SentencePiece-style ``tokenizer.json``: Metaspace pre-tokenizer and decoder, a Unigram model whose
    first pieces are the special tokens (``<unk>``, when among them, is the unknown token)."""
    unk_id = list(special_tokens).index("<unk>") if "<unk>" in special_tokens else None
    metaspace = {"type": "Metaspace", "replacement": METASPACE, "prepend_scheme": "always", "split": True}
    model = UnigramModel(pieces, unk_id).to_spec()
    return tokenizer_json(model, {s: i for i, s in enumerate(special_tokens)}, metaspace, metaspace)
