"""Checkpoint publishing: latest.json never names a directory that is not there, whatever is interrupted."""

from pathlib import Path

import pytest
import torch

from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import load_meta, open_shards
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from lmforge.train.trainer import TrainConfig, Trainer


def _model(seed: int, vocab_size: int = 11) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=vocab_size, context_length=4, d_model=8, n_layers=1, n_heads=2))


def test_saving_a_step_again_never_leaves_latest_pointing_at_a_missing_directory(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    save_checkpoint(root, 4, _model(0), {"step": 4, "tag": "first"})
    save_checkpoint(root, 5, _model(1), {"step": 5, "tag": "first"})

    def interrupted(self, target):  # killed between taking the old directory away and moving the new one in
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Path, "rename", interrupted)
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(root, 5, _model(2), {"step": 5, "tag": "second"})
    assert load_checkpoint(latest_checkpoint(root), _model(3))["tag"] == "first"  # still there, still named

    again = save_checkpoint(root, 5, _model(2), {"step": 5, "tag": "second"})
    assert latest_checkpoint(root) == again and again.name == "step-000005.1"
    assert sorted(p.name for p in root.glob("step-*")) == ["step-000004", "step-000005.1"]  # old step 5 gone
    assert load_checkpoint(again, _model(3))["tag"] == "second"
    save_checkpoint(root, 6, _model(2), {"step": 6}, keep=1)
    assert sorted(p.name for p in root.glob("step-*")) == ["step-000006"]


def test_a_resumed_run_with_nothing_left_to_do_does_not_save_its_checkpoint_again(char_data_dir, tmp_path):
    config = TrainConfig(max_steps=3, lr=1e-3, min_lr=1e-4, warmup_steps=1, eval_interval=100, log_interval=1,
                         checkpoint_interval=100, precision="fp32", seed=0)
    vocab = load_meta(char_data_dir).vocab_size

    def trainer() -> Trainer:
        windows = RandomWindowSampler(open_shards(char_data_dir, "train"), 4, 2, seed=0)
        return Trainer(_model(0, vocab), config, windows, tmp_path)

    trainer().fit()
    saved = latest_checkpoint(tmp_path / "checkpoints") / "training_state.pt"
    before = saved.stat().st_mtime_ns
    assert trainer().fit(resume=True).steps == 3  # resumed at max_steps: stops at once
    assert latest_checkpoint(tmp_path / "checkpoints") == saved.parent and saved.stat().st_mtime_ns == before
