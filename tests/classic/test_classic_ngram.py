"""n-gram language models: identical scores and perplexities to NLTK's nltk.lm on a small corpus."""

import math
from pathlib import Path

import numpy as np
import pytest
from nltk.lm import MLE as NltkMLE
from nltk.lm import KneserNeyInterpolated, Laplace, Lidstone, Vocabulary
from nltk.lm.preprocessing import padded_everygram_pipeline

from lmforge.classic import MLE, AddK, KneserNey, padded_ngrams
from lmforge.errors import ConfigError, DataError
from lmforge.text import split_sentences, word_tokenize

VERDICT = Path(__file__).parents[1] / "data" / "verdict" / "wharton-the_verdict.txt"


@pytest.fixture(scope="module")
def corpus():
    """Lower-cased tokenized sentences of "The Verdict": first 80% to train, the rest held out."""
    sents = [[w.lower() for w in word_tokenize(s)] for s in split_sentences(VERDICT.read_text(encoding="utf-8"))]
    cut = int(0.8 * len(sents))
    return sents[:cut], sents[cut:]


def nltk_model(cls, order, train, cutoff=1, **kwargs):
    grams, vocab_text = padded_everygram_pipeline(order, train)
    lm = cls(order=order, vocabulary=Vocabulary(unk_cutoff=cutoff), **kwargs)
    lm.fit(grams, vocab_text)
    return lm


def sample_ngrams(sentences, order, n):
    grams = [g for s in sentences for g in padded_ngrams(s, order)]
    return grams[:: max(1, len(grams) // n)][:n]


CASES = [
    (KneserNey, KneserNeyInterpolated, 2, {"discount": 0.1}, {"discount": 0.1}),
    (KneserNey, KneserNeyInterpolated, 3, {"discount": 0.1}, {"discount": 0.1}),
    (KneserNey, KneserNeyInterpolated, 3, {"discount": 0.75}, {"discount": 0.75}),
    (KneserNey, KneserNeyInterpolated, 4, {"discount": 0.5}, {"discount": 0.5}),
    (MLE, NltkMLE, 3, {}, {}),
    (AddK, Laplace, 2, {"k": 1.0}, {}),
    (AddK, Lidstone, 3, {"k": 0.5}, {"gamma": 0.5}),
]


@pytest.mark.parametrize("ours_cls,ref_cls,order,ours_kw,ref_kw", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("cutoff", [1, 2])
def test_scores_and_perplexity_identical_to_nltk(corpus, ours_cls, ref_cls, order, ours_kw, ref_kw, cutoff):
    train, held = corpus
    ref = nltk_model(ref_cls, order, train, cutoff, **ref_kw)
    ours = ours_cls(order, unk_cutoff=cutoff, **ours_kw).fit(train)
    assert len(ours.vocab) == len(ref.vocab)
    grams = sample_ngrams(held, order, 120) + sample_ngrams(train, order, 60)
    for g in grams:
        expected = ref.score(g[-1], g[:-1])
        assert ours.score(g[-1], g[:-1]) == pytest.approx(expected, rel=1e-12, abs=1e-300), g
    test_sents = held[:15]
    expected = ref.perplexity([g for s in test_sents for g in padded_ngrams(s, order)])
    got = ours.perplexity(test_sents)
    assert got == expected or math.isclose(got, expected, rel_tol=1e-12)
    # smoothed models give every in-vocabulary (or <UNK>) word mass; MLE gives unseen n-grams 0 -> inf perplexity
    if ours_cls is not MLE and (cutoff == 2 or ours_cls is AddK):
        assert math.isfinite(got)


def test_distribution_agrees_with_scores_and_sums_to_one(corpus):
    train, _ = corpus
    lm = KneserNey(3, discount=0.75, unk_cutoff=2).fit(train)
    for context in [("<s>", "<s>"), ("i", "had"), ("zzz", "unseen"), ()]:
        dist = lm.distribution(context)
        scores = np.array([lm.score(w, context) for w in lm.vocab])
        np.testing.assert_allclose(dist, scores, rtol=1e-12, atol=1e-15)
    addk = AddK(2, k=0.1).fit(train)
    assert addk.distribution(("the",)).sum() == pytest.approx(1.0)


def test_kneser_ney_beats_add_one_on_held_out_text(corpus):
    train, held = corpus
    kn = KneserNey(3, discount=0.75, unk_cutoff=2).fit(train).perplexity(held)
    laplace = AddK(3, k=1.0, unk_cutoff=2).fit(train).perplexity(held)
    mle = MLE(3, unk_cutoff=2).fit(train).perplexity(held)
    assert kn < laplace and math.isinf(mle)


def test_generate_is_seeded_and_readable(corpus):
    train, _ = corpus
    lm = KneserNey(3, discount=0.75).fit(train)
    a, b = lm.generate(25, seed=3), lm.generate(25, seed=3)
    assert a == b and 0 < len(a) <= 25
    assert all(w in lm.vocab and w not in ("<s>", "<UNK>", "</s>") for w in a)
    assert lm.generate(25, seed=4) != a or lm.generate(25, seed=5) != a
    assert MLE(2).fit([["a", "b"]]).generate(5, prefix=["a"]) == ["b"]


def test_errors():
    with pytest.raises(DataError, match="no tokens"):
        MLE(2).fit([[], []])
    with pytest.raises(ConfigError, match="not fitted"):
        MLE(2).score("a")
    with pytest.raises(ConfigError, match="order >= 2"):
        KneserNey(1)
    with pytest.raises(ConfigError, match="discount"):
        KneserNey(3, discount=1.5)
    with pytest.raises(ConfigError, match="k > 0"):
        AddK(2, k=0)
