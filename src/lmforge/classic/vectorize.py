"""Bag-of-words and TF-IDF: turn documents into sparse count vectors.

A document becomes a row of a matrix with one column per vocabulary term (word or
word n-gram); the entry is how often the term occurs. Word order is lost, which is
why it is called a *bag* of words, yet these vectors are strong features for
linear classifiers and the baseline every neural model must beat.

TF-IDF re-weights counts so that terms frequent in a document but rare across the
corpus dominate:

    idf(t)   = ln((1 + n) / (1 + df(t))) + 1     smooth_idf=True: as if one extra document had every term
    idf(t)   = ln(n / df(t)) + 1                  smooth_idf=False
    tf(t, d) = count(t, d)   or   1 + ln(count(t, d))   with sublinear_tf (10 occurrences are not 10x the evidence)
    row      = tf * idf, then scaled to unit L2 norm so long and short documents compare

(n = number of documents, df = number of documents containing the term; the ``+ 1``
keeps terms that occur everywhere from vanishing.) Both classes reproduce
scikit-learn's ``CountVectorizer``/``TfidfVectorizer`` (same vocabulary, column order
and values) for the options they share, which ``tests/classic`` checks.
"""

from __future__ import annotations

import numbers
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from lmforge.errors import ConfigError, DataError

#: scikit-learn's default: runs of 2+ word characters; punctuation and 1-letter words are dropped.
DEFAULT_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class CountVectorizer:
    """Documents -> sparse term-count matrix (CSR, int64), vocabulary sorted alphabetically.

    ``ngram_range=(1, 2)`` adds word pairs ("not good") as terms. ``min_df``/``max_df``
    drop terms by document frequency: an int is a number of documents, a float a
    fraction of them (``max_df=0.9`` removes terms in over 90% of documents).
    ``tokenizer`` replaces the regex (e.g. :func:`lmforge.text.word_tokenize`).
    """

    def __init__(
        self,
        lowercase: bool = True,
        token_pattern: str = DEFAULT_TOKEN_PATTERN,
        ngram_range: tuple[int, int] = (1, 1),
        min_df: int | float = 1,
        max_df: int | float = 1.0,
        stop_words: Iterable[str] | None = None,
        tokenizer: Callable[[str], list[str]] | None = None,
    ):
        lo, hi = ngram_range
        if not 1 <= lo <= hi:
            raise ConfigError(f"ngram_range must be (min, max) with 1 <= min <= max, got {ngram_range}")
        for name, value in (("min_df", min_df), ("max_df", max_df)):
            if isinstance(value, float) and not 0.0 <= value <= 1.0 or value < 0:
                raise ConfigError(f"{name} must be a count >= 0 or a fraction in [0, 1], got {value}")
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.ngram_range = (lo, hi)
        self.min_df = min_df
        self.max_df = max_df
        self.stop_words = frozenset(stop_words) if stop_words is not None else None
        self.tokenizer = tokenizer
        self.vocabulary_: dict[str, int] = {}

    def analyze(self, doc: str) -> list[str]:
        """The terms of one document: lower-case, tokenize, drop stop words, form n-grams."""
        if self.lowercase:
            doc = doc.lower()
        words = self.tokenizer(doc) if self.tokenizer is not None else re.findall(self.token_pattern, doc)
        if self.stop_words is not None:
            words = [w for w in words if w not in self.stop_words]
        lo, hi = self.ngram_range
        return [" ".join(words[i : i + n]) for n in range(lo, hi + 1) for i in range(len(words) - n + 1)]

    def _count(self, docs: Sequence[str], vocabulary: dict[str, int] | None) -> tuple[sp.csr_matrix, dict[str, int]]:
        """Count terms; ``vocabulary=None`` gives each new term the next column (fit), else unknowns are skipped."""
        if isinstance(docs, str):
            raise DataError("expected a list of documents, got a single string; wrap it in a list")
        growing = vocabulary is None
        vocab: dict[str, int] = {} if vocabulary is None else vocabulary
        indices: list[int] = []
        values: list[int] = []
        indptr = [0]
        for doc in docs:
            counts: Counter[int] = Counter()
            for term in self.analyze(doc):
                column = vocab.setdefault(term, len(vocab)) if growing else vocab.get(term)
                if column is not None:
                    counts[column] += 1
            indices.extend(counts.keys())
            values.extend(counts.values())
            indptr.append(len(indices))
        matrix = sp.csr_matrix(
            (np.asarray(values, dtype=np.int64), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
            shape=(len(indptr) - 1, len(vocab)),
        )
        matrix.sort_indices()
        return matrix, vocab

    def fit_transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        """Learn the vocabulary from ``docs`` and return their count matrix (n_docs, n_terms)."""
        counts, vocab = self._count(docs, None)
        if not vocab:
            raise DataError("no terms found: the documents are empty or contain only stop words / 1-letter words")
        n_docs = counts.shape[0]
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        high = self.max_df if isinstance(self.max_df, numbers.Integral) else self.max_df * n_docs
        low = self.min_df if isinstance(self.min_df, numbers.Integral) else self.min_df * n_docs
        if high < low:
            raise ConfigError(f"max_df ({self.max_df}) keeps fewer documents than min_df ({self.min_df}) requires")
        terms = sorted(term for term, column in vocab.items() if low <= df[column] <= high)
        if not terms:
            raise DataError(f"no terms left after min_df={self.min_df} / max_df={self.max_df}; relax them")
        old_columns = np.array([vocab[t] for t in terms], dtype=np.int64)
        self.vocabulary_ = {t: i for i, t in enumerate(terms)}
        kept = counts[:, old_columns].tocsr()
        kept.sort_indices()  # column selection leaves each row's columns in old (first-seen) order
        return kept

    def fit(self, docs: Sequence[str]) -> CountVectorizer:
        self.fit_transform(docs)
        return self

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        """Count matrix of new documents over the learned vocabulary (unknown terms are ignored)."""
        if not self.vocabulary_:
            raise ConfigError("the vectorizer is not fitted yet: call fit() or fit_transform() first")
        return self._count(docs, self.vocabulary_)[0]

    def get_feature_names_out(self) -> list[str]:
        """The terms in column order."""
        return sorted(self.vocabulary_, key=self.vocabulary_.__getitem__)

    def config(self) -> dict[str, Any]:
        """Constructor settings as JSON-ready values (a custom ``tokenizer`` cannot be saved)."""
        if self.tokenizer is not None:
            raise ConfigError("a vectorizer with a custom tokenizer function cannot be saved; use token_pattern")
        return {
            "lowercase": self.lowercase,
            "token_pattern": self.token_pattern,
            "ngram_range": list(self.ngram_range),
            "min_df": self.min_df,
            "max_df": self.max_df,
            "stop_words": sorted(self.stop_words) if self.stop_words is not None else None,
        }


class TfidfVectorizer(CountVectorizer):
    """Counts -> TF-IDF weights (CSR, float64); rows L2-normalized unless ``norm=None``."""

    def __init__(
        self,
        *args: Any,
        sublinear_tf: bool = False,
        smooth_idf: bool = True,
        norm: str | None = "l2",
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        if norm not in ("l2", "l1", None):
            raise ConfigError(f"norm must be 'l2', 'l1' or None, got {norm!r}")
        self.sublinear_tf = sublinear_tf
        self.smooth_idf = smooth_idf
        self.norm = norm
        self.idf_: np.ndarray = np.zeros(0)

    def fit_transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        counts = super().fit_transform(docs)
        n_docs = counts.shape[0] + int(self.smooth_idf)
        df = np.bincount(counts.indices, minlength=counts.shape[1]) + int(self.smooth_idf)
        self.idf_ = np.log(n_docs / df) + 1.0  # (n_terms,)
        return self._weight(counts)

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        return self._weight(super().transform(docs))

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        """tf * idf per stored entry, then per-row normalization."""
        x = counts.astype(np.float64)
        if self.sublinear_tf:
            x.data = np.log(x.data) + 1.0
        x.data *= self.idf_[x.indices]
        if self.norm is not None:
            row_of_entry = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
            size = np.abs(x.data) if self.norm == "l1" else x.data**2
            norms = np.bincount(row_of_entry, weights=size, minlength=x.shape[0])
            norms = norms if self.norm == "l1" else np.sqrt(norms)
            norms[norms == 0.0] = 1.0  # an empty row stays empty
            x.data /= norms[row_of_entry]
        return x

    def config(self) -> dict[str, Any]:
        return {**super().config(), "sublinear_tf": self.sublinear_tf, "smooth_idf": self.smooth_idf, "norm": self.norm}
