"""Pruning: the masks remove what they say (share, scope, whole heads/neurons), magnitude beats random at
equal sparsity, and a recovery fine-tune with the one Trainer keeps pruned weights at zero."""

import numpy as np
import pytest
import torch

from lmforge.compress.prune import (
    apply_masks,
    block_linears,
    head_masks,
    hold_masks,
    magnitude_masks,
    mean_hidden_activations,
    neuron_masks,
    release_masks,
    sparsity_of,
)
from lmforge.data.sampler import RandomWindowSampler
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.train.trainer import TrainConfig, Trainer


def tiny(family: str):
    torch.manual_seed(0)
    if family == "gpt":
        return GPT(GPTConfig(vocab_size=50, context_length=32, d_model=64, n_layers=2, n_heads=4)).eval()
    return Llama(LlamaConfig(vocab_size=50, context_length=32, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                             d_mlp=96)).eval()


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_layer_and_global_magnitude_masks(family):
    model = tiny(family)
    with torch.no_grad():
        model.blocks[0].mlp.down.weight.mul_(0.1)  # one layer of small weights: global pruning takes more there
    layer = magnitude_masks(model, 0.5, "layer")
    for name, mask in layer.items():
        assert abs(1 - mask.mean().item() - 0.5) < 0.01, name
    glob = magnitude_masks(model, 0.5, "global")
    total = sum(m.numel() for m in glob.values())
    assert abs(sum((1 - m).sum().item() for m in glob.values()) / total - 0.5) < 0.01
    assert glob["blocks.0.mlp.down"].mean() < 0.05  # almost all of the small layer goes
    apply_masks(model, glob)
    assert abs(sparsity_of(model) - 0.5) < 0.01


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_structured_masks_drop_the_weakest_heads_and_neurons(family):
    model = tiny(family)
    attn, mlp = model.blocks[1].attn, model.blocks[1].mlp
    d = attn.head_dim
    with torch.no_grad():
        attn.qkv.weight[2 * d: 3 * d] *= 0.01  # head 2 of layer 1 reads almost nothing
        mlp.down.weight[:, 7] *= 0.01  # hidden unit 7 of layer 1 writes almost nothing
    heads = head_masks(model, 0.25)  # 1 of 4 heads per layer
    q_rows = heads["blocks.1.attn.qkv"][: 4 * d, 0].reshape(4, d)
    assert q_rows.sum(dim=1).tolist() == [d, d, 0, d]
    assert heads["blocks.1.attn.proj"][0].reshape(4, d).sum(dim=1).tolist() == [d, d, 0, d]
    assert (heads["blocks.1.attn.qkv"][4 * d:] == 1).all()  # keys and values stay
    neurons = neuron_masks(model, 0.1)
    down = neurons["blocks.1.mlp.down"][0]
    assert down[7] == 0 and int((down == 0).sum()) == int(0.1 * down.numel())
    up = neurons[f"blocks.1.mlp.{'gate_up' if family == 'llama' else 'up'}"][:, 0]
    assert (up.reshape(-1, down.numel()) == down).all()  # the same units in the gate and up rows


def test_activation_score_drops_the_unit_that_never_fires():
    """A hidden unit with the largest weights that never activates on the calibration tokens is kept by
    the weight-norm score and dropped first by the activation score."""
    model = tiny("gpt")
    mlp = model.blocks[0].mlp
    ids = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        mlp.up.weight[3] *= 5  # unit 3: big weights in and out ...
        mlp.down.weight[:, 3] *= 5
        mlp.up.bias[3] = -100.0  # ... but GELU(-100 + w.x) is ~0 for every token
    assert neuron_masks(model, 0.1)["blocks.0.mlp.down"][0, 3] == 1
    assert neuron_masks(model, 0.1, calibration=ids)["blocks.0.mlp.down"][0, 3] == 0


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_activation_score_is_mean_abs_activation_times_output_norm(family):
    model = tiny(family)
    ids = torch.randint(0, 50, (2, 16))
    seen = []
    hooks = [b.mlp.down.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].detach()))
             for b in model.blocks]
    with torch.no_grad():
        model(ids)
    for hook in hooks:
        hook.remove()
    means = mean_hidden_activations(model, ids)
    masks = neuron_masks(model, 0.25, calibration=ids)
    for i, block in enumerate(model.blocks):
        expected = seen[i].abs().mean(dim=(0, 1))  # (H,)
        torch.testing.assert_close(means[i], expected)
        score = expected * block.mlp.down.weight.norm(dim=0)
        dropped = set(score.argsort()[: int(0.25 * score.numel())].tolist())
        assert {j for j, kept in enumerate(masks[f"blocks.{i}.mlp.down"][0].tolist()) if not kept} == dropped


def test_magnitude_pruning_hurts_less_than_random_pruning():
    model = tiny("gpt")
    ids = torch.randint(0, 50, (4, 32))
    with torch.no_grad():
        ref = model(ids)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        apply_masks(model, magnitude_masks(model, 0.5))
        magnitude_err = (model(ids) - ref).pow(2).mean()
        model.load_state_dict(state)
        generator = torch.Generator().manual_seed(0)
        random = {n: (torch.rand(m.weight.shape, generator=generator) > 0.5).float()
                  for n, m in block_linears(model).items()}
        apply_masks(model, random)
        random_err = (model(ids) - ref).pow(2).mean()
    assert magnitude_err < 0.5 * random_err, (magnitude_err, random_err)


@pytest.mark.slow  # the Trainer run takes ~20-50 s on a loaded 2-core machine
def test_recovery_fine_tune_keeps_pruned_weights_at_zero(tmp_path):
    model = tiny("gpt").train()
    masks = magnitude_masks(model, 0.6, "global")
    apply_masks(model, masks)
    hold_masks(model, masks)
    tokens = np.random.default_rng(0).integers(0, 50, size=2000)
    tokens[::2] = 7  # something learnable: every other token is 7
    config = TrainConfig(max_steps=15, lr=3e-3, warmup_steps=0, eval_interval=100, log_interval=100,
                         checkpoint_interval=1000, precision="fp32")
    result = Trainer(model, config, RandomWindowSampler([tokens], 16, 8), tmp_path,
                     val_batches=lambda: [RandomWindowSampler([tokens], 16, 8, seed=1).next_batch()]).fit()
    release_masks(model, masks)
    assert abs(sparsity_of(model) - 0.6) < 0.01
    assert result.val_loss < np.log(50) - 0.3  # it learned despite the zeros
