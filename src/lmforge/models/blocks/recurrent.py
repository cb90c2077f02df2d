"""Recurrent cells (vanilla RNN, LSTM, GRU) written out gate by gate, and a
multi-layer stack with a fast path through PyTorch's fused kernels.

A recurrent network reads a sequence one step at a time and carries a state
``h`` (the LSTM also a cell ``c``) from step to step: the state is the model's
entire memory of the past, so unlike attention, a step costs the same however
long the history is. Every cell keeps its weights in PyTorch's layout
(``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` with
the G gates stacked in PyTorch's order), so the same weights run either through
our readable Python loop (``impl="reference"``) or through ``torch.nn.LSTM`` and
friends (``impl="torch"``), and the parity tests compare the two.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

CellType = Literal["rnn", "lstm", "gru"]
RecurrentImpl = Literal["reference", "torch"]
State = tuple[torch.Tensor, ...]  # (h,) for RNN/GRU, (h, c) for LSTM; each (B, H) in a cell, (L, B, H) in a stack


class _Cell(nn.Module):
    """Shared weights of one recurrent cell with ``n_gates`` stacked gate blocks."""

    n_gates = 1
    n_states = 1  # tensors in the state: h (and c for the LSTM)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        g = self.n_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(g))
        self.bias_hh = nn.Parameter(torch.empty(g))
        # PyTorch's init: U(-1/sqrt(H), 1/sqrt(H)) keeps pre-activations O(1) whatever the width
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def zero_state(self, batch_size: int, like: torch.Tensor) -> State:
        return tuple(like.new_zeros(batch_size, self.hidden_size) for _ in range(self.n_states))

    def gates(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Input and hidden contributions, each (B, G*H): W_ih x + b_ih and W_hh h + b_hh."""
        return F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh)


class RNNCell(_Cell):
    """Elman RNN: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).

    Gradients through many steps are products of many Jacobians, so they vanish
    or explode: this cell struggles to remember more than a few tokens back.
    """

    def forward(self, x: torch.Tensor, state: State) -> State:
        (h,) = state
        from_x, from_h = self.gates(x, h)
        return (torch.tanh(from_x + from_h),)


class LSTMCell(_Cell):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with forget gate).

    i = sigma(W_i [x, h] + b_i)       input gate: how much new content to write
    f = sigma(W_f [x, h] + b_f)       forget gate: how much old memory to keep
    g = tanh(W_g [x, h] + b_g)        candidate content
    o = sigma(W_o [x, h] + b_o)       output gate: how much memory to expose
    c' = f * c + i * g                the cell is updated additively, so the
    h' = o * tanh(c')                 gradient along c is scaled only by f
    """

    n_gates = 4
    n_states = 2

    def forward(self, x: torch.Tensor, state: State) -> State:
        h, c = state
        from_x, from_h = self.gates(x, h)
        i, f, g, o = (from_x + from_h).chunk(4, dim=-1)  # PyTorch's gate order: i, f, g, o
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        return o * torch.tanh(c), c


class GRUCell(_Cell):
    """Gated recurrent unit (Cho et al. 2014): an LSTM-like memory with one state.

    r = sigma(W_ir x + b_ir + W_hr h + b_hr)         reset gate
    z = sigma(W_iz x + b_iz + W_hz h + b_hz)         update gate
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))    candidate: r chooses how much past to use
    h' = (1 - z) * n + z * h                          interpolate: z = 1 keeps h unchanged
    """

    n_gates = 3

    def forward(self, x: torch.Tensor, state: State) -> State:
        (h,) = state
        from_x, from_h = self.gates(x, h)
        x_r, x_z, x_n = from_x.chunk(3, dim=-1)  # PyTorch's gate order: r, z, n
        h_r, h_z, h_n = from_h.chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)  # the reset gate applies to the hidden term only, after its bias
        return ((1 - z) * n + z * h,)


CELLS: dict[str, type[_Cell]] = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
_FUSED: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentStack(nn.Module):
    """``n_layers`` cells, each reading the hidden states of the one below; dropout between layers.

    Same computation as ``torch.nn.LSTM/GRU/RNN(batch_first=True)`` with the
    same weights (layer l's ``weight_ih`` is ``weight_ih_l{l}`` there).
    """

    def __init__(self, cell: CellType, input_size: int, hidden_size: int, n_layers: int = 1,
                 dropout: float = 0.0, impl: RecurrentImpl = "torch") -> None:
        super().__init__()
        self.cell_type, self.hidden_size, self.n_layers = cell, hidden_size, n_layers
        self.dropout, self.impl = dropout, impl
        self.cells = nn.ModuleList(
            CELLS[cell](input_size if layer == 0 else hidden_size, hidden_size) for layer in range(n_layers)
        )
        # PyTorch's fused module, used only as code: it lives on the meta device (no memory of
        # its own) and outside the module tree; our weights are passed in at every call
        fused = _FUSED[cell](input_size, hidden_size, n_layers, batch_first=True,
                             dropout=dropout if n_layers > 1 else 0.0, device="meta")
        object.__setattr__(self, "_fused", fused)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Inputs (B, T, I) and optional state (each (L, B, H)) -> outputs (B, T, H) of the top layer, new state."""
        if self.impl == "torch":
            return self._forward_fused(x, state)
        return self._forward_reference(x, state)

    def _forward_reference(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        new_state = []
        for layer, cell in enumerate(self.cells):
            if layer > 0:
                x = F.dropout(x, self.dropout, self.training)
            s = cell.zero_state(x.shape[0], x) if state is None else tuple(t[layer] for t in state)
            outputs = []
            for t in range(x.shape[1]):  # one step at a time: step t needs the state from step t-1
                s = cell(x[:, t], s)
                outputs.append(s[0])  # h is the layer's output
            x = torch.stack(outputs, dim=1)  # (B, T, H)
            new_state.append(s)
        return x, tuple(torch.stack(parts) for parts in zip(*new_state, strict=True))  # each (L, B, H)

    def _forward_fused(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        weights = {f"{name}_l{layer}": p  # PyTorch's names: weight_ih_l0, ..., bias_hh_l{L-1}
                   for layer, cell in enumerate(self.cells) for name, p in cell.named_parameters()}
        self._fused.train(self.training)
        hx = None if state is None else (state if self.cell_type == "lstm" else state[0])
        out, new = functional_call(self._fused, weights, (x, hx))
        return out, (new if self.cell_type == "lstm" else (new,))
