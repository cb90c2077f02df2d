"""n-gram language models: MLE, add-k and interpolated Kneser-Ney, with perplexity and sampling.

An n-gram model predicts a word from the ``n - 1`` words before it, by counting:

    MLE        p(w | h) = c(h, w) / c(h)                       (0 for anything unseen)
    add-k      p(w | h) = (c(h, w) + k) / (c(h) + k |V|)       (k = 1: Laplace)
    Kneser-Ney p(w | h) = max(c(h, w) - d, 0) / c(h)  +  gamma(h) p_lower(w | h[1:])
               gamma(h) = d * N1+(h .) / c(h)                  (the discounted mass, spread by the lower order)

``N1+(h .)`` is the number of *distinct* words seen after ``h``. The Kneser-Ney idea is
in the lower orders: they count *continuations*, not occurrences. "Francisco" is
frequent but follows only "San", so as a guess for a new context it should be
unlikely; its lower-order numerator is N1+(. w), the number of distinct words it
follows, normalized by the number of distinct bigram types (or, for a middle order
with context h, by N1+(. h .)).

Conventions follow NLTK's ``nltk.lm`` exactly, and ``tests/classic`` checks the
scores are identical: every sentence is padded with ``n - 1`` ``<s>`` and ``</s>``
symbols; training counts every 1..n-gram of the padded sentence; words seen fewer
than ``unk_cutoff`` times become ``<UNK>`` (and ``|V|`` counts ``<UNK>``); perplexity is
``2 ** -mean(log2 p)`` over the n-grams of padded held-out sentences. Two NLTK
details are kept for parity: gamma's numerator uses the raw followers of ``h`` even
at middle orders, and an unseen context (or one with no continuations) passes all
its mass to the next lower order.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from lmforge.errors import ConfigError, DataError

BOS, EOS, UNK = "<s>", "</s>", "<UNK>"


def pad(sentence: Sequence[str], order: int) -> list[str]:
    """``["a", "b"]`` -> ``["<s>", "<s>", "a", "b", "</s>", "</s>"]`` for order 3."""
    return [BOS] * (order - 1) + list(sentence) + [EOS] * (order - 1)


def padded_ngrams(sentence: Sequence[str], order: int) -> list[tuple[str, ...]]:
    """The order-n n-grams of the padded sentence: what perplexity scores, one prediction each."""
    padded = pad(sentence, order)
    return [tuple(padded[i : i + order]) for i in range(len(padded) - order + 1)]


class NgramLM:
    """Counting and everything built on scores; subclasses define ``score`` and ``distribution``."""

    def __init__(self, order: int, unk_cutoff: int = 1):
        if order < 1:
            raise ConfigError(f"n-gram order must be >= 1, got {order}")
        if unk_cutoff < 1:
            raise ConfigError(f"unk_cutoff must be >= 1, got {unk_cutoff}")
        self.order = order
        self.unk_cutoff = unk_cutoff
        self.vocab: list[str] = []  # known words (count >= unk_cutoff) and UNK, in first-seen order
        self._index: dict[str, int] = {}
        #: counts[h][w] = c(h, w) for every context h of length 0..order-1
        self.counts: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)

    def fit(self, sentences: Iterable[Sequence[str]]) -> NgramLM:
        """Count the 1..n-grams of the padded ``sentences`` (lists of tokens)."""
        padded = [pad(s, self.order) for s in sentences]
        if not any(len(s) > 2 * (self.order - 1) for s in padded):
            raise DataError("cannot fit an n-gram model: the training sentences contain no tokens")
        frequency = Counter(w for s in padded for w in s)
        self.vocab = [w for w in frequency if frequency[w] >= self.unk_cutoff] + [UNK]
        self._index = {w: i for i, w in enumerate(self.vocab)}
        for sentence in padded:
            words = self._lookup(sentence)
            for n in range(1, self.order + 1):
                for i in range(len(words) - n + 1):
                    self.counts[words[i : i + n - 1]][words[i + n - 1]] += 1
        self._after_fit()
        return self

    def _after_fit(self) -> None:
        """Hook for statistics derived from the counts."""

    def _lookup(self, words: Sequence[str]) -> tuple[str, ...]:
        return tuple(w if w in self._index else UNK for w in words)

    def _context(self, context: Sequence[str]) -> tuple[str, ...]:
        """The last ``order - 1`` words of ``context``, unknown ones as ``<UNK>``."""
        if not self.vocab:
            raise ConfigError("the language model is not fitted yet: call fit() first")
        return self._lookup(context[-(self.order - 1) :] if self.order > 1 else ())

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        """p(word | context), using the last ``order - 1`` words of ``context``."""
        raise NotImplementedError

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        """p(w | context) for every w in ``self.vocab``, as one vector (V,)."""
        raise NotImplementedError

    def logscore(self, word: str, context: Sequence[str] = ()) -> float:
        """log2 p(word | context); ``-inf`` for probability 0."""
        p = self.score(word, context)
        return math.log2(p) if p > 0 else -math.inf

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """``2 ** -mean(log2 p)`` over every n-gram of the padded sentences (``inf`` if one has p = 0)."""
        logs = [self.logscore(g[-1], g[:-1]) for s in sentences for g in padded_ngrams(s, self.order)]
        if not logs:
            raise DataError("cannot compute perplexity of an empty text")
        return 2.0 ** (-math.fsum(logs) / len(logs))

    def generate(self, max_words: int = 20, seed: int = 0, prefix: Sequence[str] = ()) -> list[str]:
        """Sample a continuation of ``prefix`` word by word until ``</s>`` or ``max_words``.

        ``<s>`` and ``<UNK>`` are never sampled (their mass is renormalized away), so the
        output is plain text; the same ``seed`` gives the same words.
        """
        rng = np.random.default_rng(seed)
        history = [BOS] * (self.order - 1) + list(prefix)
        banned = [self._index[w] for w in (BOS, UNK) if w in self._index]
        out: list[str] = []
        for _ in range(max_words):
            p = self.distribution(history)
            p[banned] = 0.0
            if p.sum() <= 0:
                break
            word = self.vocab[rng.choice(len(p), p=p / p.sum())]
            if word == EOS:
                break
            out.append(word)
            history.append(word)
        return out

    def _count_vector(self, counter: Counter[str]) -> np.ndarray:
        """A Counter over words as a dense (V,) vector in vocabulary order."""
        vec = np.zeros(len(self.vocab))
        for w, c in counter.items():
            vec[self._index[w]] = c
        return vec


class MLE(NgramLM):
    """Maximum likelihood: relative frequency; zero for unseen n-grams (so perplexity may be inf)."""

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        h = self._context(context)
        counter = self.counts.get(h)
        total = counter.total() if counter else 0
        return counter[self._lookup([word])[0]] / total if total else 0.0

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        counter = self.counts.get(self._context(context), Counter())
        total = counter.total()
        return self._count_vector(counter) / total if total else np.zeros(len(self.vocab))


class AddK(NgramLM):
    """Add-k (Lidstone) smoothing: every vocabulary word gets ``k`` pseudo-counts; ``k = 1`` is Laplace."""

    def __init__(self, order: int, k: float = 1.0, unk_cutoff: int = 1):
        super().__init__(order, unk_cutoff)
        if k <= 0:
            raise ConfigError(f"add-k smoothing needs k > 0, got {k}")
        self.k = k

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        counter = self.counts.get(self._context(context), Counter())
        return (counter[self._lookup([word])[0]] + self.k) / (counter.total() + self.k * len(self.vocab))

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        counter = self.counts.get(self._context(context), Counter())
        return (self._count_vector(counter) + self.k) / (counter.total() + self.k * len(self.vocab))


class KneserNey(NgramLM):
    """Interpolated Kneser-Ney with absolute discount ``d`` (NLTK's ``KneserNeyInterpolated``)."""

    def __init__(self, order: int, discount: float = 0.1, unk_cutoff: int = 1):
        super().__init__(order, unk_cutoff)
        if order < 2:
            raise ConfigError("Kneser-Ney needs order >= 2: its unigram level is built from bigram continuations")
        if not 0.0 <= discount <= 1.0:
            raise ConfigError(f"Kneser-Ney discount must be in [0, 1], got {discount}")
        self.discount = discount
        #: continuations[h][w] = N1+(. h w): distinct words seen before the n-gram (h, w); len(h) <= order - 2
        self.continuations: dict[tuple[str, ...], Counter[str]] = defaultdict(Counter)

    def _after_fit(self) -> None:
        for h, counter in list(self.counts.items()):
            if len(h) >= 1:  # the n-gram (h, w) has a word before (h[1:], w): one more distinct continuation
                for w in counter:
                    self.continuations[h[1:]][w] += 1

    def _level(self, h: tuple[str, ...]) -> tuple[Counter[str], int, float] | None:
        """``(numerators, total, gamma)`` of context ``h``, or None when ``h`` passes everything down."""
        counter = self.counts.get(h)
        if not counter:
            return None
        numerators = counter if len(h) + 1 == self.order else self.continuations.get(h, Counter())
        total = numerators.total()
        if total == 0:
            return None
        return numerators, total, self.discount * len(counter) / total

    def score(self, word: str, context: Sequence[str] = ()) -> float:
        w = self._lookup([word])[0]
        h = self._context(context)
        p = self.continuations[()][w] / self.continuations[()].total()  # base case: p_continuation(w)
        for start in range(len(h) - 1, -1, -1):  # from the shortest context up to the full one
            level = self._level(h[start:])
            if level is not None:
                numerators, total, gamma = level
                p = max(numerators[w] - self.discount, 0.0) / total + gamma * p
        return p

    def distribution(self, context: Sequence[str] = ()) -> np.ndarray:
        h = self._context(context)
        base = self.continuations[()]
        p = self._count_vector(base) / base.total()
        for start in range(len(h) - 1, -1, -1):
            level = self._level(h[start:])
            if level is not None:
                numerators, total, gamma = level
                p = np.maximum(self._count_vector(numerators) - self.discount, 0.0) / total + gamma * p
        return p
