"""Every registered lab runs end to end in smoke mode (tiny data, a few steps) so that no lab rots.

Smoke mode checks that a lab runs and reports what it must (a one-line headline, a cited reference,
finite metrics, the files it lists), not the numbers it measures: those come from its default budget.
Every lab's smoke run uses tiny random models and a few steps: all 24 together take ~15 s on the loaded
2-core machine (2026-12-06), so they all stay in the default suite.
"""

import json
import math

import pytest

from lmforge.labs.registry import discover, run_lab

LABS = list(discover())


def test_every_phase_key_of_a_lab_is_in_the_roadmap():
    from lmforge.labs.registry import PHASE_KEYS

    assert LABS and {lb.phase for lb in discover().values()} <= set(PHASE_KEYS)


@pytest.mark.parametrize("lab_id", LABS)
def test_lab_runs_in_smoke_mode(lab_id, tmp_path):
    result = run_lab(lab_id, out_dir=tmp_path, smoke=True, seed=0)
    saved = json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert saved["id"] == lab_id and saved["smoke"] is True
    assert saved["headline"] == result.headline and result.headline.strip() and "\n" not in result.headline
    assert saved["reference"]["figure"].strip() and saved["reference"]["source"].strip()
    assert saved["metrics"] and all(math.isfinite(v) for v in saved["metrics"].values())
    assert result.artifacts and all(p.is_file() and p.stat().st_size > 0 for p in result.artifacts)
