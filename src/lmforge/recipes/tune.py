"""``lmforge tune``: an optuna study over learning rate, width and warm-up on the quickstart setup.

Each trial is one ``lmforge train`` run (its own directory under ``STUDY_DIR/trials``) with a
time budget, scored by its final validation loss. It evaluates every ``eval_interval`` steps
and reports each loss to optuna's median pruner, which stops a trial doing worse than the
median of earlier trials at the same step (after the first two trials). The study lives in
``STUDY_DIR/study.db`` (SQLite through optuna's RDBStorage), so rerunning the same command
continues it: the trials already finished (completed or pruned) count towards ``--trials`` and
are not run again, and the sampler sees them all. A running trial writes a heartbeat to the database
every ``HEARTBEAT_S`` seconds; one whose heartbeat stopped more than ``GRACE_S`` seconds ago (its process was
killed) is marked failed when the study next starts a trial and is run again once, with its parameters
(optuna's ``RetryHeartbeatStaleTrialCallback``): the grace period keeps a trial that another process is still
running from being taken for dead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from lmforge.errors import ConfigError
from lmforge.presets import load_preset
from lmforge.recipes.pretrain import bundled_data
from lmforge.recipes.train_lm import run_from_preset, train_lm
from lmforge.train.distributed import SINGLE

STUDY_NAME = "lmforge-tune"
STUDY_FILE = "study.db"
HEARTBEAT_S, GRACE_S = 30, 120  # a trial is alive while it beats; silent for GRACE_S seconds: killed
D_MODELS = (64, 96, 128, 192)  # widths to try; each divisible by the quickstart preset's 4 heads
LR_RANGE = (1e-4, 1e-2)
WARMUP_RANGE = (0, 300)


@dataclass
class TuneResult:
    best_number: int
    best_value: float  # validation loss, nats/token
    best_params: dict[str, Any]
    completed: int  # finished trials (completed or pruned) in the study, this session's included
    pruned: int  # of which pruned
    ran: int  # trials run by this call
    command: str  # the `lmforge train` command line that reproduces the best trial


def storage_url(study_dir: Path) -> str:
    return f"sqlite:///{(study_dir / STUDY_FILE).resolve()}"


def study_storage(study_dir: Path):
    """The study's SQLite storage, with heartbeats: a killed trial is failed and retried once (module docstring)."""
    import warnings

    import optuna

    with warnings.catch_warnings():  # heartbeats are "experimental" in optuna 4-5: not the user's concern
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
        return optuna.storages.RDBStorage(storage_url(study_dir), heartbeat_interval=HEARTBEAT_S,
                                          grace_period=GRACE_S, heartbeat_stale_trial_callback=retry)


def _suggest(trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", *LR_RANGE, log=True),
        "d_model": trial.suggest_categorical("d_model", D_MODELS),
        "warmup_steps": trial.suggest_int("warmup_steps", *WARMUP_RANGE),
    }


def trial_min_lr(lr: float, preset_config: dict[str, Any]) -> float:
    """The preset's min_lr, or ``lr`` itself where LR_RANGE reached below it (gpt-tiny's is 3e-4): such a trial
    keeps its lr to the end instead of failing its config check."""
    return min(lr, preset_config["train"].get("min_lr", lr))


def reproduce_command(data_dir: Path, preset: str, params: dict[str, Any], trial_minutes: float,
                      max_steps: int | None, seed: int, precision: str | None, min_lr: float | None = None) -> str:
    """The `lmforge train` command of a trial; ``min_lr`` when the trial lowered the preset's (trial_min_lr)."""
    extra = (f" --max-steps {max_steps}" if max_steps is not None else "") + (
        f" --precision {precision}" if precision is not None else "") + (
        f" --set min_lr={min_lr:.4g}" if min_lr is not None else "")
    return (f"lmforge train --data {data_dir} --out runs/tuned --preset {preset} --lr {params['lr']:.4g} "
            f"--d-model {params['d_model']} --warmup-steps {params['warmup_steps']} "
            f"--max-minutes {trial_minutes:g}{extra} --seed {seed}")


def tune(study_dir: str | Path, trials: int, trial_minutes: float, preset: str = "gpt-char-quickstart",
         max_steps: int | None = None, seed: int = 0, precision: str | None = None, eval_interval: int = 100,
         console: Console | None = None) -> TuneResult:
    """Run the study in ``study_dir`` until it holds ``trials`` completed trials; return the best one."""
    import optuna

    SINGLE.check_launch()  # under torchrun each rank would run its own trials inside one DDP group
    if trials < 1 or trial_minutes <= 0:
        raise ConfigError(f"--trials must be >= 1 and --trial-minutes > 0 (got {trials}, {trial_minutes})")
    console = console or Console(stderr=True)
    study_dir = Path(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)
    preset_config = load_preset(preset)  # an unknown preset fails before any data is prepared
    data_dir = bundled_data(study_dir, "char")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY_NAME, storage=study_storage(study_dir),
                                direction="minimize", load_if_exists=True,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    # seeded by how far the study is, so a resumed session does not redraw the first session's parameters
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))

    def finished(*states) -> int:
        return len(study.get_trials(deepcopy=False, states=states))

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def objective(trial) -> float:
        params = _suggest(trial)
        console.rule(f"trial {trial.number}: lr {params['lr']:.3g}, d_model {params['d_model']}, "
                     f"warmup {params['warmup_steps']}")
        overrides = {**params, "min_lr": trial_min_lr(params["lr"], preset_config), "max_minutes": trial_minutes,
                     "max_steps": max_steps, "seed": seed, "precision": precision, "eval_interval": eval_interval}
        run = run_from_preset(preset_config, data_dir, overrides)

        def prune_if_behind(step: int, val_loss: float) -> None:
            trial.report(val_loss, step)
            if trial.should_prune():
                console.print(f"[yellow]trial {trial.number} pruned at step {step} (val loss {val_loss:.4f})")
                raise optuna.TrialPruned(f"val loss {val_loss:.4f} at step {step}")

        out = study_dir / "trials" / f"trial-{trial.number:04d}"
        result = train_lm(run, out, console=console, on_eval=prune_if_behind)
        trial.set_user_attr("steps", result.steps)
        trial.set_user_attr("seconds", round(result.elapsed_s, 1))
        if result.val_loss is None or result.val_loss != result.val_loss:  # NaN: a diverged run
            raise optuna.TrialPruned("no finite validation loss")
        return result.val_loss

    before = finished(*done)
    if before:
        console.print(f"resuming study {study_dir / STUDY_FILE}: {before} of {trials} trials already finished")
    to_run = max(0, trials - before)
    if to_run:
        study.optimize(objective, n_trials=to_run)
    if not finished(optuna.trial.TrialState.COMPLETE):
        raise ConfigError(f"{study_dir}: no trial of the study has completed (all pruned or failed)")
    best = study.best_trial
    min_lr = trial_min_lr(best.params["lr"], preset_config)
    lowered = min_lr if min_lr < preset_config["train"].get("min_lr", min_lr) else None
    return TuneResult(best.number, float(best.value), dict(best.params), finished(*done),
                      finished(optuna.trial.TrialState.PRUNED), to_run,
                      reproduce_command(data_dir, preset, best.params, trial_minutes, max_steps, seed, precision,
                                        lowered))
