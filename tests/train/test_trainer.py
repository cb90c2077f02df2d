import json

import pytest
import torch

from lmforge.data.sampler import RandomWindowSampler, window_sampler
from lmforge.data.shards import open_shards
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.train.checkpoint import latest_checkpoint
from lmforge.train.trainer import TrainConfig, Trainer

MODEL = dict(vocab_size=66, context_length=16, d_model=32, n_layers=2, n_heads=2, dropout=0.1)


class Killed(Exception):
    pass


class KillAfter:
    """A batch source that dies after ``n`` batches, like a process killed mid-run."""

    def __init__(self, inner, n):
        self.inner, self.n = inner, n

    def next_batch(self):
        if self.n == 0:
            raise Killed()
        self.n -= 1
        return self.inner.next_batch()

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def _trainer(data_dir, out_dir, kill_after=None, accum=2, order="random"):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**MODEL))  # dropout on: the resumed run must also restore the torch RNG
    batches = window_sampler(order, open_shards(data_dir, "train"), 16, 4, seed=5)
    if kill_after is not None:
        batches = KillAfter(batches, kill_after)
    config = TrainConfig(max_steps=20, grad_accum_steps=accum, lr=3e-3, min_lr=3e-4, warmup_steps=3,
                         eval_interval=100, log_interval=1, checkpoint_interval=10, precision="fp32")
    return Trainer(model, config, batches, out_dir)


def _losses(out_dir):
    return [r["loss"] for r in map(json.loads, (out_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


@pytest.mark.parametrize("order", ["random", "epochs"])
def test_resume_continues_exactly(char_data_dir, tmp_path, order):
    _trainer(char_data_dir, tmp_path / "straight", order=order).fit()
    straight = _losses(tmp_path / "straight")
    assert len(straight) == 20

    with pytest.raises(Killed):  # 10 steps (2 micro-batches each) and a checkpoint, then die mid-step 12
        _trainer(char_data_dir, tmp_path / "resumed", kill_after=23, order=order).fit()
    assert latest_checkpoint(tmp_path / "resumed" / "checkpoints").name == "step-000010"
    _trainer(char_data_dir, tmp_path / "resumed", order=order).fit(resume=True)
    assert _losses(tmp_path / "resumed") == straight  # bit-identical, step for step

    a = torch.load(tmp_path / "straight" / "checkpoints" / "step-000020" / "training_state.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoints" / "step-000020" / "training_state.pt", weights_only=True)
    assert a["data"] == b["data"] and torch.equal(a["torch_rng"], b["torch_rng"])


def test_resume_without_checkpoint_is_an_error(char_data_dir, tmp_path):
    from lmforge.errors import ConfigError

    with pytest.raises(ConfigError, match="no checkpoint"):
        _trainer(char_data_dir, tmp_path).fit(resume=True)


def test_training_lowers_validation_loss_and_writes_artifacts(char_data_dir, tmp_path):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**MODEL, "dropout": 0.0}))
    train = RandomWindowSampler(open_shards(char_data_dir, "train"), 16, 16, seed=0)
    val_shards = open_shards(char_data_dir, "val")

    def val():
        sampler = RandomWindowSampler(val_shards, 16, 16, seed=1)
        return [sampler.next_batch() for _ in range(5)]

    config = TrainConfig(max_steps=150, lr=1e-2, min_lr=1e-3, warmup_steps=10, eval_interval=50, precision="fp32")
    trainer = Trainer(model, config, train, tmp_path, val, tokens_per_byte=1.0)
    before, _ = trainer.evaluate()
    assert before == pytest.approx(4.19, abs=0.1)  # uniform over 66 characters: ln 66
    result = trainer.fit()
    assert result.val_loss < _unigram_cross_entropy(char_data_dir) - 0.2  # it learned context, not just frequencies
    assert result.val_bpb == pytest.approx(result.val_loss / 0.6931471805599453)
    for name in ("model.safetensors", "config.json", "metrics.jsonl", "loss.png"):
        assert (tmp_path / name).is_file()


def _unigram_cross_entropy(data_dir) -> float:
    """Held-out loss of the best context-free model: training-set character frequencies (add-one)."""
    import numpy as np

    train = np.concatenate(open_shards(data_dir, "train")).astype(np.int64)
    val = np.concatenate(open_shards(data_dir, "val")).astype(np.int64)
    counts = np.bincount(train, minlength=MODEL["vocab_size"]) + 1.0
    return float(-np.log(counts / counts.sum())[val].mean())


def test_time_budget_stops_early_and_finishes_the_schedule(char_data_dir, tmp_path):
    model = GPT(GPTConfig(**MODEL))
    train = RandomWindowSampler(open_shards(char_data_dir, "train"), 16, 4, seed=0)
    config = TrainConfig(max_steps=10**6, max_minutes=0.02, precision="fp32", log_interval=1)
    trainer = Trainer(model, config, train, tmp_path)
    result = trainer.fit()
    assert result.stop_reason == "time budget" and result.steps < 10**6
    assert trainer.lr_at(result.steps, 60 * 0.02) == pytest.approx(config.min_lr)


def test_invalid_config_is_explained(char_data_dir, tmp_path):
    from lmforge.errors import ConfigError

    with pytest.raises(ConfigError, match="min_lr"):
        Trainer(GPT(GPTConfig(**MODEL)), TrainConfig(lr=1e-3, min_lr=1e-2), None, tmp_path)


class RecordingLoss:
    """A loss that keeps statistics of the batches it sees, as DPO's objective does."""

    def __init__(self):
        self.calls = 0

    def __call__(self, model, batch):
        from lmforge.objectives.clm import causal_lm_loss

        self.calls += 1
        return causal_lm_loss(model, batch)


@pytest.mark.auto_precision
def test_auto_times_the_models_own_step_and_leaves_no_trace(char_data_dir, tmp_path, monkeypatch):
    import random

    from lmforge import precision

    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("Test CPU", {"avx512_bf16"}))
    model = GPT(GPTConfig(**MODEL))  # dropout draws from the torch RNG during the timed steps
    batches = RandomWindowSampler(open_shards(char_data_dir, "train"), 16, 4, seed=5)
    loss = RecordingLoss()
    trainer = Trainer(model, TrainConfig(precision="auto"), batches, tmp_path, loss_fn=loss)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    data_state, torch_rng, python_rng = batches.state_dict(), torch.get_rng_state(), random.getstate()
    model.eval()

    choice = trainer._resolve_precision()

    assert "x of fp32 on this model's step (measured)" in choice.reason
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters()) and not model.training
    assert torch.equal(torch.get_rng_state(), torch_rng) and random.getstate() == python_rng
    assert batches.state_dict() == data_state and loss.calls == 0  # the loss the run keeps saw none of it
    cached = json.loads(precision.cache_path().read_text())
    (entry,) = cached.values()
    assert entry["shape"].startswith("GPT ") and "(4, 16)" in entry["shape"]
    assert "(cached)" in trainer._resolve_precision().reason


def test_lr_follows_steps_unless_the_run_is_budgeted_by_time_alone(tmp_path):
    from lmforge.errors import ConfigError
    from lmforge.presets import load_preset
    from lmforge.recipes.train_lm import run_from_preset

    model = GPT(GPTConfig(**MODEL))
    budgeted = dict(max_steps=100, warmup_steps=10, max_minutes=1.0)
    steps = Trainer(model, TrainConfig(**budgeted, schedule="steps"), None, tmp_path)
    timed = Trainer(model, TrainConfig(**budgeted, schedule="time"), None, tmp_path)
    assert steps.lr_at(50, elapsed_s=59.0) == steps.lr_at(50, elapsed_s=0.0)
    assert timed.lr_at(50, elapsed_s=59.0) < timed.lr_at(50, elapsed_s=0.0)
    assert TrainConfig(max_minutes=1.0).schedule == "time" and TrainConfig().schedule == "steps"
    preset = load_preset("gpt-char-quickstart")  # a time budget and a max_steps cap of its own
    assert run_from_preset(preset, "d", {}).train.schedule == "time"
    assert run_from_preset(preset, "d", {"max_minutes": 2.0}).train.schedule == "time"
    assert run_from_preset(preset, "d", {"max_steps": 20}).train.schedule == "steps"
    with pytest.raises(ConfigError, match="schedule"):
        Trainer(model, TrainConfig(schedule="epochs"), None, tmp_path)  # type: ignore[arg-type]


def test_the_same_command_with_the_same_seed_repeats_exactly(char_data_dir, tmp_path):
    """`lmforge train --preset gpt-char-quickstart --max-steps 20 --precision fp32 --seed S`, as the CLI builds it."""
    from lmforge.presets import load_preset
    from lmforge.recipes.train_lm import run_from_preset, train_lm

    def run(seed, name):
        overrides = {"max_steps": 20, "precision": "fp32", "seed": seed}
        train_lm(run_from_preset(load_preset("gpt-char-quickstart"), char_data_dir, overrides), tmp_path / name)
        records = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss"], r["lr"]) for r in records if "loss" in r]

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert [step for step, _, _ in first] == [1, 10, 20]
    assert first == again  # every logged loss and learning rate, from step 1 on
    assert other[0][1] != first[0][1]  # the seed reaches the initial weights
    assert json.loads((tmp_path / "a" / "run.json").read_text())["train"]["schedule"] == "steps"
