"""Every registered lab runs end to end in smoke mode (tiny data, a few steps) so that no lab rots.

Smoke mode checks that a lab runs and reports what it must (a one-line headline, a cited reference,
finite metrics, the files it lists), not the numbers it measures: those come from its default budget.
The default suite runs a few of the cheapest labs (one each of several phases, through the same
run_lab / result.json path); the rest are marked slow, so the slow suite (also run in CI) covers every lab.
"""

import json
import math

import pytest

from lmforge.labs.registry import discover, run_lab

LABS = list(discover())
# under a second each on a loaded 2-core machine (tests/labs durations, 2026-12-06)
FAST = ("foundations-siamese", "finetuning-spam-classifier", "deployment-batching", "retrieval-search",
        "evaluation-perplexity", "prompting-zero-few-cot", "interpretability-ethics-bias-probes")


def test_every_phase_key_of_a_lab_is_in_the_roadmap():
    from lmforge.labs.registry import PHASE_KEYS

    assert LABS and {lb.phase for lb in discover().values()} <= set(PHASE_KEYS)
    assert set(FAST) <= set(LABS)  # a renamed lab must not silently leave the default suite's subset


@pytest.mark.parametrize("lab_id", [lab_id if lab_id in FAST else pytest.param(lab_id, marks=pytest.mark.slow)
                                    for lab_id in LABS])
def test_lab_runs_in_smoke_mode(lab_id, tmp_path):
    result = run_lab(lab_id, out_dir=tmp_path, smoke=True, seed=0)
    saved = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert saved["id"] == lab_id and saved["smoke"] is True
    assert saved["headline"] == result.headline and result.headline.strip() and "\n" not in result.headline
    assert saved["reference"]["figure"].strip() and saved["reference"]["source"].strip()
    assert saved["metrics"] and all(math.isfinite(v) for v in saved["metrics"].values())
    assert result.artifacts and all(p.is_file() and p.stat().st_size > 0 for p in result.artifacts)
