import json

import pytest
import torch

from lmforge.data.sampler import RandomWindowSampler
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


def _trainer(data_dir, out_dir, kill_after=None, accum=2):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**MODEL))  # dropout on: the resumed run must also restore the torch RNG
    batches = RandomWindowSampler(open_shards(data_dir, "train"), 16, 4, seed=5)
    if kill_after is not None:
        batches = KillAfter(batches, kill_after)
    config = TrainConfig(max_steps=20, grad_accum_steps=accum, lr=3e-3, min_lr=3e-4, warmup_steps=3,
                         eval_interval=100, log_interval=1, checkpoint_interval=10, precision="fp32")
    return Trainer(model, config, batches, out_dir)


def _losses(out_dir):
    return [r["loss"] for r in map(json.loads, (out_dir / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


def test_resume_continues_exactly(char_data_dir, tmp_path):
    _trainer(char_data_dir, tmp_path / "straight").fit()
    straight = _losses(tmp_path / "straight")
    assert len(straight) == 20

    with pytest.raises(Killed):  # 10 steps (2 micro-batches each) and a checkpoint, then die mid-step 12
        _trainer(char_data_dir, tmp_path / "resumed", kill_after=23).fit()
    assert latest_checkpoint(tmp_path / "resumed" / "checkpoints").name == "step-000010"
    _trainer(char_data_dir, tmp_path / "resumed").fit(resume=True)
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
