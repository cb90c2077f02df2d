"""Normalisation layers. Both rescale each token's vector to a standard size so
activations neither explode nor vanish through a deep stack.

- LayerNorm (GPT-2, BERT): subtract the mean, divide by the standard deviation,
  then a learned gain and bias: y = (x - mean) / sqrt(var + eps) * g + b.
- RMSNorm (Llama, T5): skip the mean, divide by the root mean square:
  y = x / sqrt(mean(x^2) + eps) * g. Cheaper, and works as well in practice.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

NormKind = Literal["layernorm", "rmsnorm"]


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., C) -> (..., C)
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


def make_norm(kind: NormKind, d_model: int, eps: float, bias: bool = True) -> nn.Module:
    if kind == "rmsnorm":
        return RMSNorm(d_model, eps)
    return nn.LayerNorm(d_model, eps=eps, bias=bias)
