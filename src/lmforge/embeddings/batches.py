"""Training examples for word2vec/FastText, generated a whole epoch at a time with numpy.

Per epoch (each with its own seeded RNG, so a resumed run rebuilds the same epoch):

1. Subsample frequent words: keep word ``w`` with probability
   ``p_keep(w) = (sqrt(f(w) / t) + 1) * t / f(w)`` where ``f`` is its corpus count and
   ``t = sample * total_words`` (the formula of the word2vec C code and gensim).
   "the" is mostly dropped, rare words always kept: fewer, more informative pairs,
   and windows that effectively reach further.
2. Draw a reduced window ``b ~ U{1..window}`` per position (word2vec's trick that
   weights near context words more: a word at distance ``d`` is used with
   probability ``(window - d + 1) / window``).
3. Emit every (center, context) pair with ``|offset| <= b`` inside one sentence,
   for all positions at once: one vectorized pass per offset, no Python loop over words.
4. Shuffle, then serve fixed-size batches; each batch gets ``k`` negative words drawn
   from the unigram distribution raised to 3/4 (flattened so rare words are drawn
   more often than their frequency).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from lmforge.embeddings.corpus import EncodedCorpus
from lmforge.errors import ConfigError, DataError

PAD = -1  # marks an empty context slot in CBOW windows


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """(V,) probability of keeping each word in an epoch; ``sample=0`` keeps everything."""
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1.0) * threshold / counts)


def subsample(corpus: EncodedCorpus, keep_prob: np.ndarray, rng: np.random.Generator) -> EncodedCorpus:
    keep = rng.random(len(corpus)) < keep_prob[corpus.ids]
    return EncodedCorpus(corpus.ids[keep], corpus.sentence[keep])


def _offsets(corpus: EncodedCorpus, window: int, rng: np.random.Generator):
    """Yield ``(offset, left, right)``: positions ``left`` and ``left + offset`` are in one sentence
    and within the reduced window of ``left`` (``right`` ditto, seen from the right word)."""
    reduced = rng.integers(1, window + 1, size=len(corpus))  # (N,) b per position
    for offset in range(1, window + 1):
        same = corpus.sentence[:-offset] == corpus.sentence[offset:]  # (N - offset,)
        left = np.nonzero(same & (reduced[:-offset] >= offset))[0]  # centers looking right
        right = np.nonzero(same & (reduced[offset:] >= offset))[0] + offset  # centers looking left
        yield offset, left, right


def skipgram_pairs(corpus: EncodedCorpus, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All (center, context) word-id pairs of one epoch: two (P,) int32 arrays."""
    centers, contexts = [], []
    for offset, left, right in _offsets(corpus, window, rng):
        centers += [corpus.ids[left], corpus.ids[right]]
        contexts += [corpus.ids[left + offset], corpus.ids[right - offset]]
    if not centers:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(centers), np.concatenate(contexts)


def cbow_windows(corpus: EncodedCorpus, window: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per position, its context word ids (M, 2*window) padded with ``PAD``, and the center (M,).

    Positions without any context word (one-word sentences) are dropped.
    """
    n = len(corpus)
    contexts = np.full((n, 2 * window), PAD, dtype=np.int32)
    for offset, left, right in _offsets(corpus, window, rng):
        contexts[left, window + offset - 1] = corpus.ids[left + offset]  # right-hand slots
        contexts[right, window - offset] = corpus.ids[right - offset]  # left-hand slots
    has_context = (contexts != PAD).any(axis=1)
    return contexts[has_context], corpus.ids[has_context]


class NegativeSampler:
    """Draw word ids with probability proportional to ``count ** power`` (inverse-CDF sampling)."""

    def __init__(self, counts: np.ndarray, power: float = 0.75) -> None:
        weights = counts.astype(np.float64) ** power
        self.cdf = np.cumsum(weights / weights.sum())

    def sample(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        ids = np.searchsorted(self.cdf, rng.random(shape), side="right")
        return np.minimum(ids, len(self.cdf) - 1).astype(np.int32)  # guards u ~ 1.0 against float rounding


EpochMaker = Callable[[np.random.Generator], tuple[np.ndarray, ...]]


class EpochBatches:
    """Endless shuffled batches from arrays rebuilt each epoch; a :class:`~lmforge.train.trainer.BatchSource`.

    ``make_epoch(rng)`` returns equal-length arrays (rows = examples). Batch ``i`` of
    epoch ``e`` uses RNGs seeded by ``(seed, e)`` and ``(seed, e, i)`` only, so the
    state is just ``(epoch, batch)`` and a resumed run sees exactly the same batches.
    With a ``negatives`` sampler each batch gets an extra (B, k) array of negative ids.
    """

    def __init__(self, make_epoch: EpochMaker, batch_size: int, seed: int,
                 negatives: NegativeSampler | None = None, k: int = 5) -> None:
        if batch_size <= 0:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        self.make_epoch, self.batch_size, self.seed = make_epoch, batch_size, seed
        self.negatives, self.k = negatives, k
        self.epoch, self.batch = 0, 0
        self._arrays: tuple[np.ndarray, ...] | None = None

    def _load_epoch(self) -> tuple[np.ndarray, ...]:
        rng = np.random.default_rng([self.seed, self.epoch])
        arrays = self.make_epoch(rng)
        if len(arrays[0]) == 0:
            raise DataError("an epoch produced no training examples: the corpus is too small for these settings")
        order = rng.permutation(len(arrays[0]))
        return tuple(a[order] for a in arrays)

    def examples_per_epoch(self) -> int:
        """Examples in the current epoch (later epochs differ slightly: subsampling is random)."""
        if self._arrays is None:
            self._arrays = self._load_epoch()
        return len(self._arrays[0])

    def next_batch(self) -> tuple[torch.Tensor, ...]:
        if self._arrays is None:
            self._arrays = self._load_epoch()
        start = self.batch * self.batch_size
        if start >= len(self._arrays[0]):
            self.epoch, self.batch, start = self.epoch + 1, 0, 0
            self._arrays = self._load_epoch()
        rows = [a[start:start + self.batch_size] for a in self._arrays]
        if self.negatives is not None:
            rng = np.random.default_rng([self.seed, self.epoch, self.batch])
            rows.append(self.negatives.sample((len(rows[0]), self.k), rng))
        self.batch += 1
        return tuple(torch.from_numpy(np.ascontiguousarray(r)) for r in rows)

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["epoch"] != self.epoch:  # the arrays held (if any) belong to self.epoch
            self._arrays = None
        self.epoch, self.batch = state["epoch"], state["batch"]
