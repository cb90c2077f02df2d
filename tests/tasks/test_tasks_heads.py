"""Task heads: padding never changes a prediction; a fine-tuned model saves and loads back."""

from __future__ import annotations

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.tasks.batching import ExampleBatches, pad
from lmforge.tasks.classify import classification_loss
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config, load_task_model
from lmforge.tasks.training import FinetuneConfig, run_trainer


@pytest.mark.parametrize("pooling", ["last"])
def test_gpt_last_token_pooling_ignores_right_padding(tiny_gpt, pooling):
    model = TaskModel(TaskConfig(backbone_config(tiny_gpt), "classify", ["a", "b", "c"], pooling, 0.0), tiny_gpt)
    short, long = [5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 8]
    ids, mask = pad([short, long])
    batched = model(ids, mask)
    alone = model(*pad([short]))
    torch.testing.assert_close(batched[0], alone[0])
    assert batched.shape == (2, 3)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_bert_pooling_ignores_padding(tiny_bert, pooling):
    model = TaskModel(TaskConfig(backbone_config(tiny_bert), "classify", ["a", "b"], pooling, 0.0), tiny_bert).eval()
    ids, mask = pad([[101, 7, 8, 102], [101, 9, 10, 11, 12, 13, 102]])
    torch.testing.assert_close(model(ids, mask)[0], model(*pad([[101, 7, 8, 102]]))[0], atol=1e-5, rtol=1e-5)


def test_config_is_validated(tiny_gpt):
    with pytest.raises(ConfigError, match="pooling"):
        TaskModel(TaskConfig(backbone_config(tiny_gpt), "classify", ["a", "b"], "none"), tiny_gpt)
    with pytest.raises(ConfigError, match="family"):
        TaskConfig({"family": "nope"}, "token", ["O", "B-x"]).validate()


def test_trainer_fits_a_toy_task_and_the_model_loads_back(tiny_gpt, tmp_path):
    """Label = whether token 3 occurs: learnable in a few dozen steps; the saved model predicts the same."""
    g = torch.Generator().manual_seed(0)
    rows = []
    for _ in range(256):
        ids = torch.randint(4, 300, (int(torch.randint(3, 12, (1,), generator=g)),), generator=g).tolist()
        label = int(torch.rand(1, generator=g) < 0.5)
        if label:
            ids[int(torch.randint(0, len(ids), (1,), generator=g))] = 3
        rows.append((ids, label))

    def collate(batch):
        ids, mask = pad([r[0] for r in batch])
        return ids, mask, torch.tensor([r[1] for r in batch])

    model = TaskModel(TaskConfig(backbone_config(tiny_gpt), "classify", ["no", "yes"], "last", 0.0), tiny_gpt)
    batches = ExampleBatches(rows, 32, collate, seed=0)
    run_trainer(model, batches, classification_loss, tmp_path, FinetuneConfig(lr=3e-3), steps=120)
    ids, mask, labels = collate(rows)
    model.eval()
    accuracy = (model(ids, mask).argmax(-1) == labels).float().mean().item()
    assert accuracy > 0.9
    loaded = load_task_model(tmp_path)
    torch.testing.assert_close(loaded(ids, mask), model(ids, mask))


def test_load_task_model_explains_a_plain_model_dir(tiny_gpt, tmp_path):
    from lmforge.models.registry import save_model

    save_model(tiny_gpt, tmp_path)
    with pytest.raises(ConfigError, match="not a fine-tuned task model"):
        load_task_model(tmp_path)


def test_batches_resume_exactly():
    rows = list(range(10))
    a = ExampleBatches(rows, 3, list, seed=1)
    seen = [a.next_batch() for _ in range(5)]
    b = ExampleBatches(rows, 3, list, seed=1)
    for _ in range(2):
        b.next_batch()
        state = b.state_dict()
    c = ExampleBatches(rows, 3, list, seed=1)
    c.load_state_dict(state)
    assert [c.next_batch() for _ in range(3)] == seen[2:]
    assert len({x for batch in seen[:3] for x in batch}) == 9  # an epoch: 3 full batches, no repeats
