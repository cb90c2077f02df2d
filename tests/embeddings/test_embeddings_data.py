"""Corpus -> training examples: subsampling, windows, negatives, co-occurrences, resumable batches."""

from collections import Counter

import numpy as np
import pytest
from gensim.models import Word2Vec as GensimWord2Vec

from lmforge.embeddings.batches import (
    PAD,
    EpochBatches,
    NegativeSampler,
    cbow_windows,
    keep_probabilities,
    skipgram_pairs,
)
from lmforge.embeddings.corpus import build_vocab, encode, text_to_sentences, tokenize
from lmforge.embeddings.glove import cooccurrence
from lmforge.errors import ConfigError, DataError

SENTENCES = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog"], ["the", "dog", "ran", "to", "the", "cat"],
             ["cat"]]  # fmt: skip


def test_tokenize_and_paragraph_sentences():
    assert tokenize("Don't stop, 2 Men’s O'er-joy!") == ["don't", "stop", "men's", "o'er", "joy"]
    text = "First line\nstill first.\r\n\r\nSecond  para.\n \n\n"
    assert text_to_sentences(text) == [["first", "line", "still", "first"], ["second", "para"]]


def test_vocab_is_frequency_ordered_and_encoding_drops_rare_words():
    vocab = build_vocab(SENTENCES, min_count=2)
    assert vocab.words == ["the", "cat", "dog"] and vocab.counts.tolist() == [4, 3, 2]
    corpus = encode(SENTENCES, vocab)
    assert corpus.ids.tolist() == [0, 1, 0, 2, 0, 2, 0, 1, 1]
    assert corpus.sentence.tolist() == [0, 0, 0, 1, 2, 2, 2, 2, 3]
    with pytest.raises(DataError, match="at least 9 times"):
        build_vocab(SENTENCES, min_count=9)
    with pytest.raises(ConfigError):
        build_vocab(SENTENCES, min_count=0)


def test_keep_probabilities_match_gensim(shakespeare_text):
    sentences = text_to_sentences(shakespeare_text[:200_000])
    vocab = build_vocab(sentences, min_count=5)
    ref = GensimWord2Vec(min_count=5, sample=1e-3, vector_size=8, workers=1)
    ref.build_vocab(sentences)
    ours = keep_probabilities(vocab.counts, 1e-3)
    theirs = np.array([ref.wv.get_vecattr(w, "sample_int") for w in vocab.words]) / 2**32
    assert len(ref.wv) == len(vocab)
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert ours[0] < 0.3 and ours[-1] == 1.0  # "the"-like words mostly dropped, rare words always kept


def _pairs_reference(corpus, window, reduced):
    """Plain double loop over positions: the definition the vectorized code must reproduce."""
    pairs = []
    for i in range(len(corpus)):
        for j in range(max(0, i - reduced[i]), min(len(corpus), i + reduced[i] + 1)):
            if j != i and corpus.sentence[i] == corpus.sentence[j]:
                pairs.append((int(corpus.ids[i]), int(corpus.ids[j])))
    return Counter(pairs)


def test_skipgram_pairs_and_cbow_windows_match_the_double_loop():
    rng = np.random.default_rng(0)
    sentences = [list(rng.integers(0, 7, size=rng.integers(1, 12)).astype(str)) for _ in range(40)]
    vocab = build_vocab(sentences, min_count=1)
    corpus = encode(sentences, vocab)
    window = 4
    reduced = np.random.default_rng(3).integers(1, window + 1, size=len(corpus))  # what the code draws first
    expected = _pairs_reference(corpus, window, reduced)
    centers, contexts = skipgram_pairs(corpus, window, np.random.default_rng(3))
    assert Counter(zip(centers.tolist(), contexts.tolist(), strict=True)) == expected
    ctx, center = cbow_windows(corpus, window, np.random.default_rng(3))
    assert ctx.shape[1] == 2 * window
    from_cbow = Counter((int(c), int(w)) for row, c in zip(ctx, center, strict=True) for w in row if w != PAD)
    assert from_cbow == expected


def test_negative_sampler_follows_unigram_to_the_three_quarters():
    counts = np.array([1000, 100, 10, 1])
    draws = NegativeSampler(counts).sample((200_000,), np.random.default_rng(0))
    expected = counts**0.75 / (counts**0.75).sum()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), expected, atol=3e-3)


def test_epoch_batches_resume_exactly():
    data = np.arange(10_000)

    def make_epoch(rng):
        kept = data[rng.random(len(data)) < 0.8]
        return kept, kept * 2

    first = EpochBatches(make_epoch, 512, seed=7, negatives=NegativeSampler(np.ones(5)), k=3)
    for _ in range(25):  # into the second epoch
        first.next_batch()
    state = first.state_dict()
    expected = [first.next_batch() for _ in range(10)]
    resumed = EpochBatches(make_epoch, 512, seed=7, negatives=NegativeSampler(np.ones(5)), k=3)
    resumed.load_state_dict(state)
    for want, got in zip(expected, (resumed.next_batch() for _ in range(10)), strict=True):
        assert all((w == g).all() for w, g in zip(want, got, strict=True))
    assert state["epoch"] == 1


def test_cooccurrence_matches_weighted_double_loop():
    rng = np.random.default_rng(1)
    sentences = [list(rng.integers(0, 6, size=rng.integers(1, 15)).astype(str)) for _ in range(30)]
    vocab = build_vocab(sentences, min_count=1)
    corpus = encode(sentences, vocab)
    expected: Counter = Counter()
    for i in range(len(corpus)):
        for j in range(i + 1, min(len(corpus), i + 4)):
            if corpus.sentence[i] == corpus.sentence[j]:
                a, b = int(corpus.ids[i]), int(corpus.ids[j])
                expected[a, b] += 1.0 / (j - i)
                expected[b, a] += 1.0 / (j - i)
    rows, cols, values = cooccurrence(corpus, len(vocab), window=3)
    got = dict(zip(zip(rows.tolist(), cols.tolist(), strict=True), values.tolist(), strict=True))
    assert got.keys() == expected.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-6) for k, v in expected.items())
