"""`lmforge tune`: an optuna study in SQLite that a rerun continues."""

import time

import optuna
import pytest
import torch

from lmforge.cli.main import run
from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import open_shards
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.recipes import tune as tune_module
from lmforge.recipes.tune import STUDY_NAME, storage_url, study_storage, tune
from lmforge.train.trainer import TrainConfig, Trainer

TINY = dict(trial_minutes=0.5, preset="gpt-tiny", max_steps=2, precision="fp32", eval_interval=1)


def test_tune_runs_trials_and_a_rerun_continues_the_same_study(tmp_path, capsys):
    first = tune(tmp_path, trials=2, **TINY)
    assert (first.completed, first.pruned, first.ran) == (2, 0, 2)  # the pruner waits for two finished trials
    assert set(first.best_params) == {"lr", "d_model", "warmup_steps"}
    assert "lmforge train" in first.command and f"--d-model {first.best_params['d_model']}" in first.command

    again = tune(tmp_path, trials=3, **TINY)
    assert (again.completed, again.ran) == (3, 1)  # the two completed trials are not run again
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path))
    trials = study.get_trials()
    assert [t.number for t in trials] == [0, 1, 2]
    assert trials[2].state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    assert trials[2].intermediate_values  # each evaluation was reported to the pruner
    assert trials[2].params != trials[0].params  # the resumed sampler did not redraw trial 0
    assert again.best_value == pytest.approx(min(t.value for t in trials if t.value is not None))
    assert sorted(p.name for p in (tmp_path / "trials").iterdir()) == ["trial-0000", "trial-0001", "trial-0002"]

    # the command: nothing left to run, so it only prints the best trial and the command that reproduces it
    assert run(["tune", "--study-dir", str(tmp_path), "--trials", "3", "--trial-minutes", "0.5", "--preset",
                "gpt-tiny", "--max-steps", "2", "--precision", "fp32"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "best of 3 trials" in out and again.command in out and f"{again.best_value:.4f}" in out


def test_a_killed_trial_is_failed_and_run_again_with_its_parameters(tmp_path, monkeypatch):
    """A trial whose process died (its heartbeat stopped) is not left RUNNING forever: the next session marks it
    failed and runs a new trial with the same parameters, which counts towards --trials."""
    monkeypatch.setattr(tune_module, "HEARTBEAT_S", 1)
    monkeypatch.setattr(tune_module, "GRACE_S", 1)
    tune(tmp_path, trials=1, **TINY)
    storage = study_storage(tmp_path)
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage)
    killed = study.ask()
    params = tune_module._suggest(killed)  # as the objective draws them, then the process is killed
    storage.record_heartbeat(killed._trial_id)
    time.sleep(2.5)  # past the grace period (SQLite keeps whole seconds: 1.5 s can read as 1)
    again = tune(tmp_path, trials=2, **TINY)
    trials = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(tmp_path)).get_trials()
    assert [t.state.name for t in trials[:2]] == ["COMPLETE", "FAIL"]
    assert trials[2].params == params and trials[2].state.name in ("COMPLETE", "PRUNED")
    assert (again.completed, again.ran) == (2, 1)


def test_a_trial_lr_below_the_presets_min_lr_trains_and_reproduces(tmp_path, monkeypatch):
    """gpt-tiny's min_lr is 3e-4; a trial drawn below it keeps its lr to the end instead of failing."""
    monkeypatch.setattr(tune_module, "LR_RANGE", (1e-4, 2e-4))
    result = tune(tmp_path, trials=1, **TINY)
    assert result.completed == 1 and result.best_params["lr"] < 3e-4
    assert f"--set min_lr={result.best_params['lr']:.4g}" in result.command


def test_on_eval_sees_every_evaluation_and_can_stop_the_run(char_data_dir, tmp_path):
    """The hook tune's pruner uses: (step, val loss) after each periodic evaluation; raising ends the run."""
    seen = []

    class Pruned(Exception):
        pass

    def on_eval(step, val_loss):
        seen.append((step, val_loss))
        if step == 4:
            raise Pruned

    torch.manual_seed(0)
    config = TrainConfig(max_steps=10, eval_interval=2, warmup_steps=1, precision="fp32")
    batches = RandomWindowSampler(open_shards(char_data_dir, "train"), 16, 4, seed=0)
    val_shards = open_shards(char_data_dir, "val")
    trainer = Trainer(GPT(GPTConfig(vocab_size=66, context_length=16, d_model=16, n_layers=1, n_heads=2)), config,
                      batches, tmp_path, lambda: iter([RandomWindowSampler(val_shards, 16, 4, seed=1).next_batch()]),
                      on_eval=on_eval)
    with pytest.raises(Pruned):
        trainer.fit()
    assert [s for s, _ in seen] == [2, 4] and trainer.step == 4
    assert all(loss > 0 for _, loss in seen)
