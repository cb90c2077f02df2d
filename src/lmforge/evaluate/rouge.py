"""ROUGE-N, ROUGE-L and ROUGE-Lsum, computed as Google's ``rouge-score`` package does.

ROUGE measures how much of a reference summary a generated one recovers:

- ROUGE-N: clipped n-gram overlap, ``overlap = Σ_g min(count_ref(g), count_pred(g))``,
  ``P = overlap / #pred n-grams``, ``R = overlap / #ref n-grams``, ``F = 2PR / (P + R)``.
- ROUGE-L: the longest common subsequence (in order, gaps allowed) of the token lists,
  ``P = LCS / |pred|``, ``R = LCS / |ref|``.
- ROUGE-Lsum: summary level; texts are split into sentences at newlines and, per reference
  sentence, the *union* of its LCS positions with every predicted sentence is counted
  (each token at most as often as it occurs on both sides, as ROUGE-1.5.5 does).

Tokenisation is part of the definition: lower-case, every run of characters outside
``[a-z0-9]`` becomes a space (so accented letters and punctuation separate words), and
with ``use_stemmer`` words longer than 3 characters are Porter-stemmed (NLTK's variant,
which is what rouge-score calls).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    fmeasure: float


_ZERO = Score(0.0, 0.0, 0.0)


def _score(overlap: int, n_pred: int, n_ref: int) -> Score:
    p, r = overlap / max(n_pred, 1), overlap / max(n_ref, 1)
    return Score(p, r, 2 * p * r / (p + r) if p + r > 0 else 0.0)


def _nltk_stemmer() -> Callable[[str], str]:
    from nltk.stem.porter import PorterStemmer

    return PorterStemmer().stem


def rouge_tokenize(text: str, stem: Callable[[str], str] | None = None) -> list[str]:
    tokens = _NON_ALPHANUMERIC.sub(" ", text.lower()).split()
    return [stem(t) if len(t) > 3 else t for t in tokens] if stem else tokens


def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def rouge_n(ref: list[str], pred: list[str], n: int) -> Score:
    ref_grams, pred_grams = _ngrams(ref, n), _ngrams(pred, n)
    overlap = sum((ref_grams & pred_grams).values())
    return _score(overlap, sum(pred_grams.values()), sum(ref_grams.values()))


def _lcs_table(a: list[str], b: list[str]) -> list[list[int]]:
    """``t[i][j]`` = LCS length of ``a[:i]`` and ``b[:j]`` (dynamic programming, O(|a||b|))."""
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
    return t


def _lcs_positions(ref: list[str], pred: list[str]) -> list[int]:
    """Positions in ``ref`` of one longest common subsequence (the backtrack rouge-score uses)."""
    t = _lcs_table(ref, pred)
    i, j, out = len(ref), len(pred), []
    while i > 0 and j > 0:
        if ref[i - 1] == pred[j - 1]:
            out.append(i - 1)
            i, j = i - 1, j - 1
        elif t[i][j - 1] > t[i - 1][j]:
            j -= 1
        else:
            i -= 1
    return out[::-1]


def rouge_l(ref: list[str], pred: list[str]) -> Score:
    if not ref or not pred:
        return _ZERO
    return _score(_lcs_table(ref, pred)[-1][-1], len(pred), len(ref))


def rouge_lsum(ref_sents: list[list[str]], pred_sents: list[list[str]]) -> Score:
    n_ref, n_pred = sum(map(len, ref_sents)), sum(map(len, pred_sents))
    if not n_ref or not n_pred:
        return _ZERO
    ref_left = Counter(t for s in ref_sents for t in s)  # each token may be hit at most this often
    pred_left = Counter(t for s in pred_sents for t in s)
    hits = 0
    for ref in ref_sents:
        union = sorted(set().union(*(_lcs_positions(ref, pred) for pred in pred_sents)))
        for token in (ref[i] for i in union):
            if ref_left[token] > 0 and pred_left[token] > 0:
                hits += 1
                ref_left[token] -= 1
                pred_left[token] -= 1
    return _score(hits, n_pred, n_ref)


def rouge_scores(reference: str, prediction: str, types: Sequence[str] = ("rouge1", "rouge2", "rougeL"),
                 use_stemmer: bool = False) -> dict[str, Score]:
    """Scores of ``prediction`` against ``reference`` for each of ``types`` (``rougeN``, ``rougeL``, ``rougeLsum``)."""
    stem = _nltk_stemmer() if use_stemmer else None
    ref, pred = rouge_tokenize(reference, stem), rouge_tokenize(prediction, stem)
    out = {}
    for kind in types:
        if kind == "rougeL":
            out[kind] = rouge_l(ref, pred)
        elif kind == "rougeLsum":
            def sentences(text: str) -> list[list[str]]:
                return [rouge_tokenize(s, stem) for s in text.split("\n") if s]

            out[kind] = rouge_lsum(sentences(reference), sentences(prediction))
        elif re.fullmatch(r"rouge[1-9]", kind):
            out[kind] = rouge_n(ref, pred, int(kind[5:]))
        else:
            raise ValueError(f"unknown ROUGE type {kind!r}; expected rouge1..rouge9, rougeL or rougeLsum")
    return out


def rouge_multi(references: Sequence[str], prediction: str, types: Sequence[str] = ("rouge1", "rouge2", "rougeL"),
                use_stemmer: bool = False) -> dict[str, Score]:
    """Against several references, each type keeps the reference with the best F (first one on ties)."""
    all_scores = [rouge_scores(r, prediction, types, use_stemmer) for r in references]
    return {k: max(all_scores, key=lambda s, k=k: s[k].fmeasure)[k] for k in types}


def corpus_rouge(references: Sequence[str], predictions: Sequence[str],
                 types: Sequence[str] = ("rouge1", "rouge2", "rougeL"), use_stemmer: bool = False) -> dict[str, float]:
    """Mean F-measure over the pairs, in percent: the number summarisation papers report."""
    if len(references) != len(predictions):
        raise ValueError(f"{len(references)} references but {len(predictions)} predictions")
    totals = dict.fromkeys(types, 0.0)
    for ref, pred in zip(references, predictions, strict=True):
        for k, s in rouge_scores(ref, pred, types, use_stemmer).items():
            totals[k] += s.fmeasure
    return {k: 100.0 * v / max(len(references), 1) for k, v in totals.items()}
