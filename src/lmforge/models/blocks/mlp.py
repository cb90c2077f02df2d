"""Position-wise feed-forward network: the part of a block that works on each token alone."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["gelu", "gelu_tanh", "relu"]


def activation_fn(name: Activation):
    """GPT-2 uses the tanh approximation of GELU ("gelu_new" in HF); BERT the exact erf form."""
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    return {"gelu": F.gelu, "relu": F.relu}[name]


class MLP(nn.Module):
    """x -> W2 act(W1 x): widen (usually 4x), apply a non-linearity, project back."""

    def __init__(self, d_model: int, d_hidden: int, activation: Activation = "gelu_tanh", bias: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, d_hidden, bias=bias)
        self.down = nn.Linear(d_hidden, d_model, bias=bias)
        self.act = activation_fn(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        return self.dropout(self.down(self.act(self.up(x))))
