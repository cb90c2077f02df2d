"""Percentile bootstrap intervals: agree with scipy.stats.bootstrap, cover the truth as often as they claim."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from lmforge.errors import ConfigError, DataError
from lmforge.evaluate import bootstrap
from lmforge.evaluate.bootstrap import Interval, bootstrap_ci, paired_bootstrap_ci


def _scores(p: float, n: int, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < p).astype(float)


@pytest.mark.parametrize("p, n", [(0.3, 40), (0.7, 200), (0.05, 60)])
def test_interval_matches_scipy_percentile_bootstrap(p, n):
    scores = _scores(p, n, seed=1)
    ours = bootstrap_ci(scores, resamples=20_000, seed=0)
    ref = stats.bootstrap((scores,), np.mean, n_resamples=20_000, method="percentile", confidence_level=0.95,
                          random_state=np.random.default_rng(0)).confidence_interval
    assert ours.estimate == pytest.approx(scores.mean(), abs=1e-12)
    # different random draws: the endpoints agree to Monte-Carlo error (~0.005 at 20k resamples)
    assert ours.low == pytest.approx(ref.low, abs=0.02)
    assert ours.high == pytest.approx(ref.high, abs=0.02)


def test_paired_interval_matches_scipy_paired_bootstrap():
    a, b = _scores(0.6, 80, seed=2), _scores(0.4, 80, seed=3)
    ours = paired_bootstrap_ci(a, b, resamples=20_000, seed=0)
    ref = stats.bootstrap((a, b), lambda x, y: np.mean(x - y), paired=True, n_resamples=20_000,
                          method="percentile", random_state=np.random.default_rng(0)).confidence_interval
    assert ours.estimate == pytest.approx((a - b).mean())
    assert ours.low == pytest.approx(ref.low, abs=0.02)
    assert ours.high == pytest.approx(ref.high, abs=0.02)


def test_95_percent_intervals_cover_the_true_accuracy_about_95_percent_of_the_time():
    intervals = [bootstrap_ci(_scores(0.4, 100, seed=s), resamples=2_000, seed=s) for s in range(200)]
    covered = sum(i.low <= 0.4 <= i.high for i in intervals)
    assert 0.88 <= covered / 200 <= 0.99


def test_same_seed_same_interval_and_pairing_beats_unpaired_width():
    shared = _scores(0.5, 100, seed=4)  # item difficulty both prompts share
    a, b = shared, np.where(np.arange(100) % 10 == 0, 1.0 - shared, shared)  # b differs on 10 items only
    assert bootstrap_ci(a, seed=7) == bootstrap_ci(a, seed=7)
    paired = paired_bootstrap_ci(a, b)
    unpaired_width = (bootstrap_ci(a).high - bootstrap_ci(a).low) + (bootstrap_ci(b).high - bootstrap_ci(b).low)
    assert paired.high - paired.low < unpaired_width / 2


def test_bad_input_is_refused_in_one_line():
    with pytest.raises(DataError, match="non-empty"):
        bootstrap_ci([])
    with pytest.raises(DataError, match="same items"):
        paired_bootstrap_ci([1.0, 0.0], [1.0])
    with pytest.raises(ConfigError, match="confidence"):
        bootstrap_ci([1.0], confidence=1.5)


def test_resamples_drawn_in_chunks_give_the_same_interval(monkeypatch):
    scores = _scores(0.7, 57, seed=5)
    whole = bootstrap_ci(scores, resamples=1_000, seed=3)
    monkeypatch.setattr(bootstrap, "CHUNK_INDICES", 57 * 7 + 3)  # 7 resamples per chunk, a short last chunk
    assert bootstrap_ci(scores, resamples=1_000, seed=3) == whole
    assert bootstrap_ci(np.ones(20), resamples=100) == Interval(1.0, 1.0, 1.0, 0.95)  # a perfect score: [1, 1]
