"""Gradient x input and integrated gradients on tiny random classifiers, against captum (fp32)."""

from __future__ import annotations

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.interpret.attribution import gradient_x_input, integrated_gradients, token_embedding
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.config import config_to_dict
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.tasks.heads import TaskConfig, TaskModel

captum_attr = pytest.importorskip("captum.attr")

IDS = torch.tensor([2, 7, 11, 5, 19, 3])


def classifier(family: str) -> TaskModel:
    torch.manual_seed(0)
    backbone, pooling = {
        "bert": (lambda: Bert(BertConfig(vocab_size=24, context_length=16, d_model=16, n_layers=2, n_heads=2,
                                         d_mlp=32, dropout=0.0, pretraining_heads=False)), "mean"),
        "gpt": (lambda: GPT(GPTConfig(vocab_size=24, context_length=16, d_model=16, n_layers=2, n_heads=2)), "last"),
        "llama": (lambda: Llama(LlamaConfig(vocab_size=24, context_length=16, d_model=16, n_layers=2, n_heads=2,
                                            n_kv_heads=1, d_mlp=32)), "last"),
    }[family]
    model = backbone()
    task = TaskModel(TaskConfig(config_to_dict(model.config, model.family), "classify", ["neg", "pos"], pooling,
                                dropout=0.0), model)
    torch.nn.init.normal_(task.head.weight, std=0.5)  # a head that is not ~0, so gradients are sizeable
    return task.eval()


def forward(model: TaskModel):
    return lambda ids: model(ids, torch.ones_like(ids))


@pytest.mark.parametrize("family", ["bert", "gpt", "llama"])
def test_gradient_x_input_matches_captum(family):
    model = classifier(family)
    ours = gradient_x_input(model, IDS, target=1)
    ref = captum_attr.LayerGradientXActivation(forward(model), token_embedding(model)).attribute(IDS[None], target=1)
    torch.testing.assert_close(ours.values, ref[0], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("family", ["bert", "gpt", "llama"])
def test_integrated_gradients_match_captum_with_a_pad_baseline(family):
    model = classifier(family)
    pads = torch.zeros_like(IDS)
    baseline = token_embedding(model)(pads)
    ours = integrated_gradients(model, IDS, target=0, baseline=baseline, steps=32, batch_size=8)
    ref, delta = captum_attr.LayerIntegratedGradients(forward(model), token_embedding(model)).attribute(
        IDS[None], baselines=pads[None], target=0, n_steps=32, method="gausslegendre",
        return_convergence_delta=True)
    torch.testing.assert_close(ours.values, ref[0], rtol=1e-4, atol=1e-6)
    assert ours.convergence_delta == pytest.approx(float(delta), abs=1e-5)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_completeness_attributions_sum_to_the_logit_difference(family):
    model = classifier(family)
    ig = integrated_gradients(model, IDS, target=1, steps=64)
    with torch.no_grad():
        f_x = model(IDS[None], torch.ones_like(IDS)[None])[0, 1]
        emb = token_embedding(model)
        handle = emb.register_forward_hook(lambda m, a, out: torch.zeros_like(out))
        f_0 = model(IDS[None], torch.ones_like(IDS)[None])[0, 1]
        handle.remove()
    gap = float(f_x - f_0)
    assert abs(gap) > 1e-2  # a non-trivial check: the baseline changes the logit
    assert float(ig.per_token.sum()) == pytest.approx(gap, abs=1e-4 * max(1.0, abs(gap)))
    assert abs(ig.convergence_delta) < 1e-4
    # few steps: the same rule, a visibly larger gap; completeness is a property of the integral
    assert abs(integrated_gradients(model, IDS, target=1, steps=2).convergence_delta) > abs(ig.convergence_delta)


def test_refuses_training_mode_and_bad_targets():
    model = classifier("bert")
    with pytest.raises(ConfigError, match="class index"):
        gradient_x_input(model, IDS, target=2)
    with pytest.raises(ConfigError, match="eval mode"):
        integrated_gradients(model.train(), IDS, target=0)
