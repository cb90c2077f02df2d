"""SQuAD v1.1 exact match and F1, as the official ``evaluate-v1.1.py`` defines them.

Both compare *normalised* answers: lower-case, drop ASCII punctuation, drop the articles
``a``/``an``/``the``, collapse whitespace. Then

- exact match: the normalised strings are equal;
- F1: over the multiset of whitespace tokens, ``overlap = |pred ∩ gold|``,
  ``P = overlap / |pred|``, ``R = overlap / |gold|``, ``F1 = 2PR / (P + R)`` (0 if no overlap).

A question scores the best value over its gold answers (annotators disagree on spans);
the corpus score is the mean times 100. Quirks kept on purpose, because published numbers
include them: non-ASCII punctuation (``–``) is not removed, accents are not folded, and an
answer that normalises to nothing (``"The the"`` vs ``"the"``) is an exact match with F1 0.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
    overlap = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Sequence[str], gold_answers: Sequence[Sequence[str]]) -> dict[str, float]:
    """``{"exact_match": ..., "f1": ...}`` in percent, each question scored against its best gold answer."""
    if len(predictions) != len(gold_answers):
        raise ValueError(f"{len(predictions)} predictions but {len(gold_answers)} questions")
    if not predictions:
        return {"exact_match": 0.0, "f1": 0.0}
    em = sum(max(exact_match(p, g) for g in golds) for p, golds in zip(predictions, gold_answers, strict=True))
    f1 = sum(max(token_f1(p, g) for g in golds) for p, golds in zip(predictions, gold_answers, strict=True))
    return {"exact_match": 100.0 * em / len(predictions), "f1": 100.0 * f1 / len(predictions)}
