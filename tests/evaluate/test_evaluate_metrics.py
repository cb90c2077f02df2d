"""Parity of lmforge.evaluate with the reference implementations: golden vectors + randomised cases."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lmforge.evaluate.rouge import corpus_rouge, rouge_multi, rouge_scores
from lmforge.evaluate.seqeval_like import entity_report, get_entities
from lmforge.evaluate.squad import squad_scores

DATA = Path(__file__).parents[1] / "data"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ----------------------------------------------------------------------------- SQuAD


@pytest.mark.parametrize("case", _jsonl(DATA / "squad_v11" / "squad_v11_em_f1_refs.jsonl"))
def test_squad_matches_official_reference_vectors(case):
    got = squad_scores(case["predictions"], case["gold_answers"])
    assert got["exact_match"] == pytest.approx(case["expected"]["exact_match"], abs=1e-9)
    assert got["f1"] == pytest.approx(case["expected"]["f1"], abs=1e-9)


def test_squad_fails_on_a_wrong_answer():
    assert squad_scores(["Paris"], [["London"]]) == {"exact_match": 0.0, "f1": 0.0}


# ----------------------------------------------------------------------------- ROUGE


# split_summaries=True needs NLTK's punkt sentence splitter (not bundled), so that one case is left out
ROUGE_REFS = [c for c in _jsonl(DATA / "metric_refs" / "rouge_refs.jsonl")
              if not c.get("kwargs", {}).get("split_summaries")]


@pytest.mark.parametrize("case", ROUGE_REFS)
def test_rouge_matches_reference_vectors(case):
    if case["metric"] == "rouge_multi":
        got = rouge_multi(case["targets"], case["prediction"], list(case["expected"]))
    else:
        got = rouge_scores(case["target"], case["prediction"], case["rouge_types"],
                           use_stemmer=case["kwargs"].get("use_stemmer", False))
    for kind, expected in case["expected"].items():
        for field, value in expected.items():
            assert getattr(got[kind], field) == pytest.approx(value, abs=10 ** -case.get("places", 7)), (kind, field)


def _random_text(rng: random.Random, n: int) -> str:
    words = ["the", "cat", "sat", "on", "mat", "Running", "runs", "dogs", "dog's", "café", "2024", "a", "x-ray"]
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(0, n))) for _ in range(rng.randint(1, 3))]
    return rng.choice([", ", ".\n", " "]).join(lines)


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_equals_rouge_score_on_random_texts(use_stemmer):
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    types = ["rouge1", "rouge2", "rouge3", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=use_stemmer)
    rng = random.Random(0)
    for _ in range(150):
        target, prediction = _random_text(rng, 12), _random_text(rng, 12)
        expected, got = scorer.score(target, prediction), rouge_scores(target, prediction, types, use_stemmer)
        for kind in types:
            assert (got[kind].precision, got[kind].recall, got[kind].fmeasure) == pytest.approx(
                tuple(expected[kind]), abs=1e-12), (target, prediction, kind)


def test_corpus_rouge_is_mean_f_in_percent():
    got = corpus_rouge(["testing one two", "a b"], ["testing one", "a b"], ["rouge1"])
    assert got["rouge1"] == pytest.approx(100 * (0.8 + 1.0) / 2)


# ----------------------------------------------------------------------------- seqeval


SEQEVAL_REFS = _jsonl(DATA / "metric_refs" / "seqeval_refs.jsonl")


def test_seqeval_reference_vectors():
    for case in SEQEVAL_REFS:
        if case["metric"] == "seqeval_get_entities":
            assert [list(e) for e in get_entities(case["tags"])] == case["expected"]
        elif case["metric"] == "seqeval_f1":
            assert entity_report(case["y_true"], case["y_pred"]).f1 == case["expected"]["default_conlleval_mode"]
            assert entity_report(case["y_true"], case["y_pred"], mode="strict").f1 == case["expected"]["strict_IOB2"]
        elif case["metric"] == "seqeval_prf_acc":
            got = entity_report(case["y_true"], case["y_pred"])
            assert (got.precision, got.recall, got.f1, got.accuracy) == pytest.approx(
                (case["expected"]["precision"], case["expected"]["recall"], case["expected"]["f1"],
                 case["expected"]["accuracy"]))


def _random_tags(rng: random.Random, n: int) -> list[str]:
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "B-ORG", "B", "I"]
    return [rng.choice(tags) for _ in range(n)]


def _assert_equal_to_seqeval(y_true, y_pred, mode="default"):
    metrics = pytest.importorskip("seqeval.metrics")
    kwargs = {}
    if mode == "strict":
        from seqeval.scheme import IOB2

        kwargs = {"mode": "strict", "scheme": IOB2}
    got = entity_report(y_true, y_pred, mode=mode)
    assert got.precision == pytest.approx(metrics.precision_score(y_true, y_pred, **kwargs), abs=1e-12)
    assert got.recall == pytest.approx(metrics.recall_score(y_true, y_pred, **kwargs), abs=1e-12)
    assert got.f1 == pytest.approx(metrics.f1_score(y_true, y_pred, **kwargs), abs=1e-12)
    for average, mine in (("macro", got.macro_f1), ("weighted", got.weighted_f1)):
        if not got.per_type:  # no entity anywhere: seqeval returns nan for the averages, we return 0
            continue
        assert mine == pytest.approx(metrics.f1_score(y_true, y_pred, average=average, **kwargs), abs=1e-12)
    report = metrics.classification_report(y_true, y_pred, output_dict=True, **kwargs)
    for entity_type, scores in got.per_type.items():
        if entity_type in report:
            assert scores.f1 == pytest.approx(report[entity_type]["f1-score"], abs=1e-12)
            assert scores.support == report[entity_type]["support"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("mode", ["default", "strict"])
def test_seqeval_like_equals_seqeval_on_random_sequences(mode):
    rng = random.Random(1)
    for _ in range(60):
        y_true, y_pred = [], []
        for _ in range(rng.randint(1, 5)):
            n = rng.randint(1, 9)
            y_true.append(_random_tags(rng, n))
            y_pred.append(_random_tags(rng, n))
        if mode == "strict":  # seqeval's strict IOB2 mode rejects bare B/I tags
            y_true = [[t if "-" in t or t == "O" else "O" for t in s] for s in y_true]
            y_pred = [[t if "-" in t or t == "O" else "O" for t in s] for s in y_pred]
        _assert_equal_to_seqeval(y_true, y_pred, mode)


def test_seqeval_like_rejects_misaligned_input():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_report([["O", "B-PER"]], [["O"]])
