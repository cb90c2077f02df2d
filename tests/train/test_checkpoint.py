"""Checkpoint publishing: latest.json never names a directory that is not there, whatever is interrupted."""

from pathlib import Path

import pytest
import torch

from lmforge.models.gpt import GPT, GPTConfig
from lmforge.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint


def _model(seed: int) -> GPT:
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=11, context_length=4, d_model=8, n_layers=1, n_heads=2))


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
