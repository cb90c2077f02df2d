"""Score prediction files against gold files (what ``lmforge eval`` runs).

- ``squad``: official formats: the dataset json and a predictions json ``{"question id": "answer"}``;
- ``ner``: two CoNLL files with the same tokens (gold, predicted);
- ``rouge`` / ``bleu``: two text files, one reference / one prediction per line.

Mismatches (a question without a prediction, a token that differs, a different line count) are
errors naming the file and the line, never silently scored as wrong or skipped.
"""

from __future__ import annotations

from pathlib import Path

from lmforge.data.annotated import read_conll, read_squad
from lmforge.errors import DataError
from lmforge.evaluate.bleu import corpus_bleu
from lmforge.evaluate.rouge import corpus_rouge
from lmforge.evaluate.seqeval_like import EntityScores, entity_report
from lmforge.evaluate.squad import squad_scores
from lmforge.io import read_json, read_text


def score_squad(dataset: Path, predictions: Path) -> dict[str, float]:
    questions = read_squad(dataset)
    answers = read_json(predictions, "SQuAD predictions")
    if not isinstance(answers, dict):
        raise DataError(f"{predictions}: expected a JSON object {{question id: answer text}}")
    missing = [q.id for q in questions if q.id not in answers]
    if missing:
        raise DataError(f"{predictions}: no prediction for {len(missing)} of the {len(questions)} questions in "
                        f"{dataset}, e.g. id {missing[0]!r}")
    texts = [str(answers[q.id]) for q in questions]
    _require_some_prediction(predictions, texts)
    return squad_scores(texts, [q.answers for q in questions])


def score_ner(gold: Path, predicted: Path) -> EntityScores:
    g, p = read_conll(gold), read_conll(predicted)
    if len(g) != len(p):
        raise DataError(f"{predicted}: {len(p)} sentences but {gold} has {len(g)}")
    for a, b in zip(g, p, strict=True):
        if a.tokens != b.tokens:
            raise DataError(f"{predicted}: line {b.line}: tokens differ from {gold} line {a.line}")
    return entity_report([s.tags for s in g], [s.tags for s in p])


def _require_some_prediction(predictions: Path, texts: list[str]) -> None:
    """Refuse a prediction file whose every prediction is blank: it scores 0, which reads as a
    (very bad) result when it is really a broken pipeline. A few blank outputs are scored as given."""
    if not any(t.strip() for t in texts):
        raise DataError(f"{predictions}: all {len(texts)} predictions are empty; nothing to score")


def _lines(references: Path, predictions: Path) -> tuple[list[str], list[str]]:
    refs, preds = read_text(references).splitlines(), read_text(predictions).splitlines()
    if not refs:
        raise DataError(f"{references}: the file is empty; expected one reference per line")
    if len(preds) != len(refs):
        gap = (f"{len(refs) - len(preds)} predictions missing" if len(preds) < len(refs)
               else f"{len(preds) - len(refs)} lines too many")
        raise DataError(f"{predictions}: {len(preds)} lines but {references} has {len(refs)}: {gap} "
                        "(one prediction per line, in the same order)")
    _require_some_prediction(predictions, preds)
    return refs, preds


def score_rouge(references: Path, predictions: Path, use_stemmer: bool = False) -> dict[str, float]:
    return corpus_rouge(*_lines(references, predictions), ("rouge1", "rouge2", "rougeL"), use_stemmer)


def score_bleu(references: Path, predictions: Path) -> dict[str, float | str]:
    refs, preds = _lines(references, predictions)
    return corpus_bleu(preds, refs)
