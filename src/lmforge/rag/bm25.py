"""BM25 (Okapi) over chunk texts, with the exact scores of ``rank_bm25.BM25Okapi``.

score(q, d) = sum over query terms t of  idf(t) * f(t,d) * (k1 + 1) / (f(t,d) + k1 * (1 - b + b * |d| / avgdl))

with idf(t) = ln(N - n(t) + 0.5) - ln(n(t) + 0.5). Like rank-bm25, a term in more than half
of the documents (negative idf) gets ``epsilon`` times the average idf instead, and a term
repeated in the query counts each time. Terms are kept in an inverted index (term -> the
documents holding it and how often), so a query touches only its terms' postings instead of
every document.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from lmforge.text.porter import PorterStemmer
from lmforge.text.stopwords import STOP_WORDS
from lmforge.text.tokenize import tokenize

_STEMMER = PorterStemmer()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return _STEMMER.stem(word)


def bm25_terms(text: str) -> list[str]:
    """Lower-cased, stemmed words without stop words or punctuation: ``"The cats ran."`` -> ``["cat", "ran"]``."""
    words = (t.text.lower() for t in tokenize(text))
    return [_stem(w) for w in words if any(c.isalnum() for c in w) and w not in STOP_WORDS]


class BM25:
    def __init__(self, corpus: Sequence[Sequence[str]], k1: float = 1.5, b: float = 0.75,
                 epsilon: float = 0.25) -> None:
        """``corpus``: one list of terms per document (e.g. :func:`bm25_terms` of each chunk)."""
        self.k1, self.b = k1, b
        self.doc_len = np.array([len(d) for d in corpus], dtype=np.float64)  # (N,)
        self.size = len(corpus)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(corpus):
            for term, count in Counter(doc).items():
                docs, counts = postings.setdefault(term, ([], []))
                docs.append(i)
                counts.append(count)
        self.postings = {t: (np.array(d), np.array(c, dtype=np.float64)) for t, (d, c) in postings.items()}
        idf = {t: math.log(self.size - len(d) + 0.5) - math.log(len(d) + 0.5) for t, (d, _) in postings.items()}
        floor = epsilon * (sum(idf.values()) / len(idf)) if idf else 0.0
        self.idf = {t: floor if v < 0 else v for t, v in idf.items()}
        avgdl = self.doc_len.mean() if self.size else 1.0
        self._norm = k1 * (1 - b + b * self.doc_len / avgdl)  # (N,) the length part of the denominator

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """(N,) BM25 score of every document for the query terms."""
        out = np.zeros(self.size)
        for term in query:
            if term not in self.postings:
                continue
            docs, tf = self.postings[term]
            out[docs] += self.idf[term] * tf * (self.k1 + 1) / (tf + self._norm[docs])
        return out

    def top_k(self, query: Sequence[str], k: int) -> list[tuple[int, float]]:
        """(document index, score) of the ``k`` best documents with a positive score, best first."""
        scores = self.scores(query)
        k = min(k, int((scores > 0).sum()))
        best = np.argpartition(-scores, k - 1)[:k] if k else np.array([], dtype=int)
        return [(int(i), float(scores[i])) for i in best[np.argsort(-scores[best], kind="stable")]]
