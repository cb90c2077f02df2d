"""Attention rollout (Abnar & Zuidema 2020): how much each input token flows into each output position.

One layer's attention map says where a position reads from *in the layer below*, not in the input:
after two layers, token 3 may read position 1, which had already read token 0. Rollout follows the
flow through every layer. Each layer's map is averaged over heads and the residual connection is
added as an identity (half the signal stays where it was), rows renormalised::

    A_l' = normalize(0.5 * I + 0.5 * mean_h A_l)        (T, T), rows sum to 1
    R    = A_L' @ ... @ A_2' @ A_1'                      R[i, j]: share of input token j in output i

It is a heuristic (it ignores the values, the MLPs and the norms), but cheap, and unlike a single
layer's map it points at input tokens. The maps come from :func:`lmforge.viz.attention.attention_maps`
(the labs call it); this module is only the arithmetic.
"""

from __future__ import annotations

import torch

from lmforge.errors import ConfigError


def attention_rollout(maps: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """(L, H, T, T) attention weights, layer 0 first -> (T, T) rollout; ``residual`` is the identity's share."""
    if maps.ndim != 4 or maps.shape[-1] != maps.shape[-2]:
        raise ConfigError(f"attention maps must be (layers, heads, T, T), got {tuple(maps.shape)}")
    if not 0.0 <= residual <= 1.0:
        raise ConfigError(f"residual must be in [0, 1], got {residual}")
    eye = torch.eye(maps.shape[-1], dtype=maps.dtype, device=maps.device)
    rollout = eye
    for layer in maps:  # (H, T, T)
        a = residual * eye + (1.0 - residual) * layer.mean(0)
        a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout  # the newer layer reads the older layers' mixture
    return rollout
