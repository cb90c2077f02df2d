"""Bootstrap confidence intervals for a score averaged over test items (accuracy, exact match, F1).

An accuracy measured on 60 questions is an estimate: another 60 questions from the same source would
give another number. The percentile bootstrap (Efron & Tibshirani 1993, ch. 13) estimates how much:
draw ``n`` items *with replacement* from the ``n`` scored items, take the mean, repeat ``resamples``
times, and report the middle 95 % of those means. It assumes nothing about the score's distribution.
It cannot see past the sample either: a perfect score (every item 1) gives [1, 1], as the normal
approximation ``p ± 1.96 sqrt(p(1-p)/n)`` does; for that boundary case use a Wilson or Clopper-Pearson
interval.

Comparing two prompts on the same items is a *paired* question: resample item indices once and
take the mean difference on the drawn items, so the items' shared difficulty cancels
(:func:`paired_bootstrap_ci`). The draws come from a seeded NumPy generator, so a run repeats exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lmforge.errors import ConfigError, DataError


@dataclass(frozen=True)
class Interval:
    """A point estimate (the mean of the observed scores) and its percentile-bootstrap interval."""

    estimate: float
    low: float
    high: float
    confidence: float

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _check(scores: Sequence[float], resamples: int, confidence: float, what: str) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise DataError(f"{what}: need a non-empty list of per-item scores, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise DataError(f"{what}: per-item scores must be finite numbers")
    if resamples < 1:
        raise ConfigError(f"resamples must be positive, got {resamples}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    return values


CHUNK_INDICES = 1 << 20  # item indices drawn at once (8 MB): (R, n) at once would be 0.8 GB for 10k x 10k


def _interval(values: np.ndarray, resamples: int, confidence: float, seed: int) -> Interval:
    rng = np.random.default_rng(seed)
    rows_per_chunk = max(1, CHUNK_INDICES // values.size)
    means = np.empty(resamples)  # (R,)
    for start in range(0, resamples, rows_per_chunk):  # the generator's stream, hence the result, is the same
        rows = rng.integers(0, values.size, size=(min(rows_per_chunk, resamples - start), values.size))
        means[start:start + len(rows)] = values[rows].mean(axis=1)  # rows: (chunk, n) indices, with replacement
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(float(values.mean()), float(low), float(high), confidence)


def bootstrap_ci(scores: Sequence[float], resamples: int = 10_000, confidence: float = 0.95,
                 seed: int = 0) -> Interval:
    """Mean of per-item ``scores`` (e.g. 1.0 right / 0.0 wrong) with its percentile-bootstrap interval."""
    return _interval(_check(scores, resamples, confidence, "bootstrap"), resamples, confidence, seed)


def paired_bootstrap_ci(a: Sequence[float], b: Sequence[float], resamples: int = 10_000,
                        confidence: float = 0.95, seed: int = 0) -> Interval:
    """Mean of ``a - b`` over the same items (item i scored both ways), with its bootstrap interval.

    An interval that contains 0 means the sample cannot tell the two apart at this confidence.
    """
    x = _check(a, resamples, confidence, "paired bootstrap (first)")
    y = _check(b, resamples, confidence, "paired bootstrap (second)")
    if x.size != y.size:
        raise DataError(f"paired bootstrap: both score lists must cover the same items, got {x.size} and {y.size}")
    return _interval(x - y, resamples, confidence, seed)
