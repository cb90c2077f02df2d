"""`lmforge tune`: an optuna study in SQLite that a rerun continues."""

import optuna
import pytest

from lmforge.recipes.tune import STUDY_NAME, storage_url, tune


def test_tune_runs_trials_and_a_rerun_continues_the_same_study(tmp_path):
    first = tune(tmp_path, trials=2, trial_minutes=0.5, preset="gpt-tiny", max_steps=2, precision="fp32")
    assert (first.completed, first.ran) == (2, 2)
    assert set(first.best_params) == {"lr", "d_model", "warmup_steps"}
    assert "lmforge train" in first.command and f"--d-model {first.best_params['d_model']}" in first.command

    again = tune(tmp_path, trials=3, trial_minutes=0.5, preset="gpt-tiny", max_steps=2, precision="fp32")
    assert (again.completed, again.ran) == (3, 1)  # the two completed trials are not run again
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path))
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2] and all(t.value > 0 for t in trials)
    assert trials[2].params != trials[0].params  # the resumed sampler did not redraw trial 0
    assert again.best_value == pytest.approx(min(t.value for t in trials))
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["trial-0000", "trial-0001", "trial-0002"]
