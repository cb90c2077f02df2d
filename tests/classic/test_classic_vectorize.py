"""Bag-of-words / TF-IDF: identical to scikit-learn (vocabulary, column order, values within 1e-12)."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction import text as sk

from lmforge.classic import CountVectorizer, TfidfVectorizer
from lmforge.errors import ConfigError, DataError
from lmforge.text import STOP_WORDS, word_tokenize

SETTINGS = [
    {},
    {"ngram_range": (1, 2)},
    {"ngram_range": (2, 3)},
    {"min_df": 2},
    {"min_df": 0.01},
    {"max_df": 0.5},
    {"max_df": 40},
    {"min_df": 3, "max_df": 0.2, "ngram_range": (1, 2)},
    {"lowercase": False},
    {"stop_words": sorted(STOP_WORDS)},
]
TFIDF_SETTINGS = [
    {},
    {"sublinear_tf": True},
    {"smooth_idf": False},
    {"sublinear_tf": True, "smooth_idf": False, "ngram_range": (1, 2), "min_df": 2, "max_df": 0.9},
    {"norm": "l1"},
    {"norm": None},
]


def assert_same(ours: sp.csr_matrix, ref: sp.csr_matrix):
    ref = ref.tocsr()
    ref.sort_indices()
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    np.testing.assert_array_equal(ours.indptr, ref.indptr)
    np.testing.assert_array_equal(ours.indices, ref.indices)
    np.testing.assert_allclose(ours.data, ref.data, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def docs(uci_sentiment):
    texts, _ = uci_sentiment
    return texts[:2000], texts[2000:]


@pytest.mark.parametrize("kwargs", SETTINGS, ids=str)
def test_count_vectorizer_matches_sklearn(docs, kwargs):
    train, new = docs
    ours, ref = CountVectorizer(**kwargs), sk.CountVectorizer(**kwargs)
    assert_same(ours.fit_transform(train), ref.fit_transform(train))
    assert ours.vocabulary_ == {t: int(i) for t, i in ref.vocabulary_.items()}
    assert ours.get_feature_names_out() == list(ref.get_feature_names_out())
    assert_same(ours.transform(new), ref.transform(new))


@pytest.mark.parametrize("kwargs", TFIDF_SETTINGS + SETTINGS[1:4], ids=str)
def test_tfidf_vectorizer_matches_sklearn(docs, kwargs):
    train, new = docs
    ours, ref = TfidfVectorizer(**kwargs), sk.TfidfVectorizer(**kwargs)
    assert_same(ours.fit_transform(train), ref.fit_transform(train))
    assert ours.vocabulary_ == {t: int(i) for t, i in ref.vocabulary_.items()}
    np.testing.assert_allclose(ours.idf_, ref.idf_, rtol=0, atol=1e-12)
    assert_same(ours.transform(new), ref.transform(new))


def test_custom_tokenizer_and_empty_rows():
    vec = CountVectorizer(tokenizer=word_tokenize, lowercase=True)
    x = vec.fit_transform(["Don't stop", "don't!"])
    assert vec.get_feature_names_out() == ["!", "do", "n't", "stop"]
    assert x.toarray().tolist() == [[0, 1, 1, 1], [1, 1, 1, 0]]
    tfidf = TfidfVectorizer().fit(["good movie", "bad movie"])
    empty = tfidf.transform(["", "unseen words only"])
    assert empty.shape == (2, 3) and empty.nnz == 0


def test_user_errors():
    with pytest.raises(DataError, match="no terms found"):
        CountVectorizer().fit(["a", "!"])
    with pytest.raises(DataError, match="no terms left"):
        CountVectorizer(min_df=2).fit(["good movie", "bad film"])
    with pytest.raises(DataError, match="single string"):
        CountVectorizer().fit("good movie")
    with pytest.raises(ConfigError, match="not fitted"):
        TfidfVectorizer().transform(["x"])
    with pytest.raises(ConfigError, match="ngram_range"):
        CountVectorizer(ngram_range=(2, 1))
    with pytest.raises(ConfigError, match="max_df"):
        CountVectorizer(min_df=3, max_df=2).fit(["aa bb", "aa cc", "aa dd"])
