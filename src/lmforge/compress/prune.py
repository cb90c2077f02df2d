"""Pruning: set the least important weights of a GPT/Llama to zero.

Four ways to choose what goes, each returning one 0/1 mask per linear weight of ``model.blocks``
(the embedding and LM head are left alone: every token reads them):

- :func:`magnitude_masks` ``scope="layer"``: in every matrix, the ``sparsity`` fraction of weights
  with the smallest ``|w|`` (each layer loses the same share);
- ``scope="global"``: one threshold over all matrices, so layers with many small weights lose more;
- :func:`head_masks`: whole attention heads, scored by ``||W_q[h]|| * ||W_o[:, h]||`` (what a head
  reads with times what it writes), the lowest-scoring ``sparsity`` fraction of each layer's heads;
- :func:`neuron_masks`: whole MLP hidden units, scored by the norms of their input row(s) times
  their output column — or, given calibration tokens, by what the unit actually contributes:
  its mean ``|activation|`` on those tokens times its output column's norm. Weight norms alone
  ignore the gate (a SwiGLU unit with large weights may almost never open) and the inputs'
  scale; ``benchmarks/pruning.py`` compares the two scores on a real model.

Unstructured zeros only save memory in a sparse format; whole heads or neurons could be cut out of
the matrices (a smaller dense model). Here both are masks, to compare quality at equal sparsity.

:func:`apply_masks` zeroes the weights. For a recovery fine-tune, :func:`hold_masks` makes each
weight ``weight_orig * mask`` (``torch.nn.utils.prune``), so the one Trainer's updates cannot
revive pruned weights; :func:`release_masks` folds the mask back into a plain weight.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn.utils import prune

from lmforge.errors import ConfigError
from lmforge.models.blocks.mlp import GatedMLP

Masks = dict[str, torch.Tensor]  # "blocks.0.attn.qkv" -> (N, K) 0/1 mask of that Linear's weight


def block_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """Every ``nn.Linear`` inside ``model.blocks``, by its full module name."""
    return {f"blocks.{name}": m for name, m in model.blocks.named_modules() if isinstance(m, nn.Linear)}


def _check(sparsity: float) -> None:
    if not 0.0 <= sparsity < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {sparsity}")


def magnitude_masks(model: nn.Module, sparsity: float, scope: Literal["layer", "global"] = "layer") -> Masks:
    """Keep the largest ``|w|``: per matrix (``layer``) or over all block matrices at once (``global``)."""
    _check(sparsity)
    weights = {name: m.weight.detach().abs() for name, m in block_linears(model).items()}
    if scope == "global":
        flat = torch.cat([w.flatten() for w in weights.values()])
        k = int(sparsity * flat.numel())
        threshold = flat.kthvalue(k).values if k else flat.new_tensor(-1.0)
        return {name: (w > threshold).float() for name, w in weights.items()}
    if scope != "layer":
        raise ConfigError(f"scope must be 'layer' or 'global', got {scope!r}")
    masks = {}
    for name, w in weights.items():
        k = int(sparsity * w.numel())
        threshold = w.flatten().kthvalue(k).values if k else w.new_tensor(-1.0)
        masks[name] = (w > threshold).float()
    return masks


def _lowest(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Boolean (n,): True for the ``sparsity`` fraction of entries with the lowest score."""
    drop = torch.zeros_like(scores, dtype=torch.bool)
    drop[scores.argsort()[: int(sparsity * scores.numel())]] = True
    return drop


def head_masks(model: nn.Module, sparsity: float) -> Masks:
    """Drop whole query heads: their rows of the q projection and their columns of the output projection.

    With grouped-query attention the shared k/v heads stay (other query heads still read them)."""
    _check(sparsity)
    masks = {}
    for i, block in enumerate(model.blocks):
        attn = block.attn
        n_heads, d = attn.n_heads, attn.head_dim
        q = attn.qkv.weight.detach()[: n_heads * d].reshape(n_heads, d, -1)  # (H, D, C)
        o = attn.proj.weight.detach().reshape(-1, n_heads, d)  # (C, H, D)
        drop = _lowest(q.flatten(1).norm(dim=1) * o.transpose(0, 1).flatten(1).norm(dim=1), sparsity)  # (H,)
        qkv_mask = torch.ones_like(attn.qkv.weight)
        qkv_mask[: n_heads * d] = (~drop).float().repeat_interleave(d)[:, None]
        masks[f"blocks.{i}.attn.qkv"] = qkv_mask
        masks[f"blocks.{i}.attn.proj"] = (~drop).float().repeat_interleave(d)[None, :].expand_as(attn.proj.weight)
    return masks


def mean_hidden_activations(model: nn.Module, ids: torch.Tensor) -> list[torch.Tensor]:
    """Per block, the mean ``|h|`` of each MLP hidden unit (the input of ``mlp.down``) over ``ids`` (B, T)."""
    sums: list[torch.Tensor] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        h = inputs[0].detach().float()  # (B, T, H)
        sums.append(h.abs().reshape(-1, h.shape[-1]).mean(dim=0))

    hooks = [block.mlp.down.register_forward_pre_hook(record) for block in model.blocks]
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for hook in hooks:
            hook.remove()
    return sums  # one (H,) per block, in order


def neuron_masks(model: nn.Module, sparsity: float, calibration: torch.Tensor | None = None) -> Masks:
    """Drop whole MLP hidden units. Score: mean ``|activation|`` on ``calibration`` ids (B, T) x output column
    norm; without calibration, norm of the input row(s) (gate and up for SwiGLU) x output column norm."""
    _check(sparsity)
    activations = mean_hidden_activations(model, calibration) if calibration is not None else None
    masks = {}
    for i, block in enumerate(model.blocks):
        mlp = block.mlp
        up, up_name = (mlp.gate_up, "gate_up") if isinstance(mlp, GatedMLP) else (mlp.up, "up")
        hidden = mlp.down.in_features
        rows = up.weight.detach().reshape(-1, hidden, up.in_features)  # (1 or 2, H, C): gate rows first
        reads = rows.norm(dim=2).prod(dim=0) if activations is None else activations[i]  # (H,)
        score = reads * mlp.down.weight.detach().norm(dim=0)  # (H,)
        keep = (~_lowest(score, sparsity)).float()
        masks[f"blocks.{i}.mlp.{up_name}"] = keep.repeat(rows.shape[0])[:, None].expand_as(up.weight)
        masks[f"blocks.{i}.mlp.down"] = keep[None, :].expand_as(mlp.down.weight)
    return masks


def apply_masks(model: nn.Module, masks: Masks) -> None:
    """Zero the masked weights (and the biases of whole dropped output rows) in place."""
    with torch.no_grad():
        for name, mask in masks.items():
            linear = model.get_submodule(name)
            linear.weight.mul_(mask)
            if linear.bias is not None:
                linear.bias.mul_((mask.sum(dim=1) > 0).float())


def hold_masks(model: nn.Module, masks: Masks) -> None:
    """Keep pruned weights at zero while training (``weight = weight_orig * mask`` in every forward)."""
    for name, mask in masks.items():
        prune.custom_from_mask(model.get_submodule(name), "weight", mask.contiguous())


def release_masks(model: nn.Module, masks: Masks) -> None:
    """Fold the masks into plain weights again (after a recovery fine-tune), so the model saves as usual."""
    for name in masks:
        prune.remove(model.get_submodule(name), "weight")


def sparsity_of(model: nn.Module) -> float:
    """Fraction of exact zeros among the block matrices' weights."""
    weights = [m.weight for m in block_linears(model).values()]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
