"""Position-wise feed-forward networks: the part of a block that works on each token alone."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Activation = Literal["gelu", "gelu_tanh", "relu", "silu", "relu2"]


def activation_fn(name: Activation):
    """GPT-2 uses the tanh approximation of GELU ("gelu_new" in HF); BERT the exact erf form;
    Llama SiLU (x * sigmoid(x), "swish"); "relu2" is ReLU squared (So et al. 2021, "Primer"; the
    modded-nanogpt speedruns): as sparse as ReLU, but smooth at 0 and growing quadratically, which Primer
    found trains faster than GELU at equal compute."""
    if name == "gelu_tanh":
        return lambda x: F.gelu(x, approximate="tanh")
    if name == "relu2":
        return lambda x: F.relu(x).square()
    return {"gelu": F.gelu, "relu": F.relu, "silu": F.silu}[name]


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


class GatedMLP(nn.Module):
    """GLU family (SwiGLU with SiLU, GeGLU with GELU): x -> W2 (act(Wg x) * (Wu x)).

    One branch decides, per hidden unit, how much of the other passes through.
    Gate and up projections are one fused matmul (``gate_up``: gate rows first).
    """

    def __init__(self, d_model: int, d_hidden: int, activation: Activation = "silu", bias: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.gate_up = nn.Linear(d_model, 2 * d_hidden, bias=bias)
        self.down = nn.Linear(d_hidden, d_model, bias=bias)
        self.act = activation_fn(activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) -> (B, T, C)
        gate, up = self.gate_up(x).chunk(2, dim=-1)  # (B, T, H) each
        return self.dropout(self.down(self.act(gate) * up))
