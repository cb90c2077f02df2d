"""A time-budgeted run trains until its budget is spent, and its LR follows the clock after a warm-up in steps."""

import pytest

from lmforge.errors import ConfigError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.presets import load_preset
from lmforge.recipes.train_lm import run_from_preset
from lmforge.train.trainer import TrainConfig, Trainer

MODEL = dict(vocab_size=66, context_length=16, d_model=32, n_layers=2, n_heads=2)


def test_a_time_budget_drops_the_presets_step_cap():
    preset = load_preset("gpt-char-quickstart")  # max_minutes 8 and a max_steps of its own
    assert run_from_preset(preset, "d", {}).train.max_steps is None
    assert run_from_preset(preset, "d", {"max_minutes": 0.5}).train.max_steps is None
    explicit = run_from_preset(preset, "d", {"max_minutes": 0.5, "max_steps": 20}).train
    assert explicit.max_steps == 20 and explicit.schedule == "steps"
    with pytest.raises(ConfigError, match="needs max_minutes"):
        TrainConfig(max_steps=None).validate()


def test_data_order_is_a_run_setting_checked_before_anything_is_written():
    preset = load_preset("gpt-char-quickstart")
    assert run_from_preset(preset, "d", {}).data_order == "random"
    assert run_from_preset(preset, "d", {"data_order": "epochs"}).data_order == "epochs"
    with pytest.raises(ConfigError, match="data_order must be one of random, epochs; got 'sorted'"):
        run_from_preset(preset, "d", {"data_order": "sorted"})


def test_time_schedule_warms_up_in_steps_then_follows_the_clock(tmp_path):
    config = TrainConfig(max_steps=None, max_minutes=1.0, lr=1e-3, min_lr=1e-4, warmup_steps=10)
    trainer = Trainer(GPT(GPTConfig(**MODEL)), config, None, tmp_path)
    assert trainer.lr_at(0, 0.0) == 0.0
    assert trainer.lr_at(5, 0.0) == pytest.approx(5e-4)  # half-way up the ramp
    assert trainer.lr_at(10, 0.0) == pytest.approx(1e-3)
    assert trainer.lr_at(10_000, 30.0) == pytest.approx(5.5e-4)  # half the budget: half-way down the cosine
    assert trainer.lr_at(5, 60.0) == pytest.approx(1e-4)  # the budget is spent: min_lr even mid-ramp


def test_quickstart_with_a_tiny_budget_stops_by_time(tmp_path):
    from rich.console import Console

    from lmforge.recipes.quickstart import quickstart

    preset = {"model": {"family": "gpt", **{k: v for k, v in MODEL.items() if k != "vocab_size"}},
              "train": {"max_steps": 3, "max_minutes": 8.0, "warmup_steps": 2, "eval_interval": 10**6,
                        "checkpoint_interval": 10**6, "precision": "fp32"},
              "batch_size": 2, "eval_batches": 2}
    path = tmp_path / "preset.json"
    path.write_text(__import__("json").dumps(preset))
    result = quickstart(tmp_path / "run", preset=str(path), overrides={"max_minutes": 0.02}, n_samples=0,
                        console=Console(quiet=True))
    assert result.train.stop_reason == "time budget" and result.train.steps > 3  # the preset's cap is gone
    assert result.train.elapsed_s >= 60 * 0.02  # the whole budget was used
