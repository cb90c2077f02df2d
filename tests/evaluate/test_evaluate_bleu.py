"""lmforge.evaluate.bleu is sacrebleu: these tests check that it is called as sacrebleu's own published
test vectors expect (several references per sentence, other tokenizers, lowercasing, which side is the
hypothesis), not that sacrebleu agrees with itself.

The vectors (tests/data/metric_refs/sacrebleu_refs.jsonl, SOURCE.txt beside it) come from sacrebleu's
test suite; each row names the exact call its expected value belongs to.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmforge.evaluate.bleu import corpus_bleu, reference_streams

pytest.importorskip("sacrebleu")

ROWS = [json.loads(line) for line in
        (Path(__file__).parents[1] / "data" / "metric_refs" / "sacrebleu_refs.jsonl").read_text("utf-8").splitlines()]


def _rows(metric: str, options: set[str]) -> list[dict]:
    """The rows of one kind whose settings corpus_bleu can express."""
    return [r for r in ROWS if r["metric"] == metric and set(r.get("kwargs") or {}) <= options]


def _per_hypothesis(streams: list[list[str]]) -> list[list[str]]:
    """The file stores sacrebleu's layout (streams[k][i]); lmforge takes each sentence's references."""
    return [list(refs) for refs in zip(*streams, strict=True)]


@pytest.mark.parametrize("row", _rows("bleu_corpus", {"tokenize"}), ids=lambda r: str(r["kwargs"] or "default"))
def test_corpus_bleu_with_two_references_per_sentence(row):
    result = corpus_bleu(row["hypotheses"], _per_hypothesis(row["references"]), **row["kwargs"])
    assert result["bleu"] == pytest.approx(row["expected"], abs=1e-6)
    assert "nrefs:2" in result["signature"]


# Single sentences whose every n-gram order has a match, where corpus BLEU equals sacrebleu's sentence BLEU
# (its effective order and smoothing then change nothing): the tokenizers and lowercasing.
SENTENCE_ROWS = [r for r in _rows("bleu_sentence", {"tokenize", "lowercase", "smooth_method", "smooth_value"})
                 if r["kwargs"]["smooth_method"] == "exp" and r["expected"] > 0]


@pytest.mark.parametrize("row", SENTENCE_ROWS, ids=lambda r: f"{r['kwargs']['tokenize']}-lc{r['kwargs']['lowercase']}")
def test_tokenizers_and_lowercasing(row):
    options = {key: row["kwargs"][key] for key in ("tokenize", "lowercase")}
    result = corpus_bleu([row["hypothesis"]], [row["references"]], **options)
    assert result["bleu"] == pytest.approx(row["expected"], abs=row["tolerance"])
    assert f"tok:{options['tokenize']}" in result["signature"]


@pytest.mark.parametrize("row", _rows("chrf_sentence", set()), ids=lambda r: f"{r['expected']:.2f}")
def test_chrf_on_sentences(row):
    """The vectors were computed with eps smoothing (the original chrF); sacrebleu's default, effective-order
    averaging, differs from it below 1e-3 on them, while swapping hypothesis and reference moves chrF by 2-10."""
    assert corpus_bleu([row["hypothesis"]], [row["references"]])["chrf"] == pytest.approx(row["expected"], abs=1e-3)


def test_sentences_may_have_different_numbers_of_references():
    """A missing reference is padding, not an empty string: repeating a sentence's reference changes nothing."""
    hypotheses = ["the cat sat on the mat", "it rained all day long"]
    ragged = [["the cat sat on a mat", "a cat was on the mat"], "it was raining the whole day"]
    padded = [ragged[0], [ragged[1]] * 2]
    assert reference_streams(ragged) == [[ragged[0][0], ragged[1]], [ragged[0][1], None]]
    ours, expected = corpus_bleu(hypotheses, ragged), corpus_bleu(hypotheses, padded)
    assert 0 < ours["bleu"] < 100
    assert (ours["bleu"], ours["chrf"]) == pytest.approx((expected["bleu"], expected["chrf"]))


def test_mismatched_or_missing_references_are_errors():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="hypothesis 1 has no reference"):
        corpus_bleu(["a", "b"], ["a", []])
