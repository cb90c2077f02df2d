"""Vanishing and exploding gradients through time: a plain tanh RNN against an LSTM.

Unrolled over T steps, a recurrent network is a T-layer-deep network with shared weights. The
gradient of a loss on the last state with respect to an early state is a product of T Jacobians::

    plain RNN:  dh_{t+1}/dh_t = diag(1 - h_{t+1}^2) W_hh       -> ||dL/dh_t|| ~ (|W_hh| * tanh')^(T - t)
    LSTM:       dc_{t+1}/dc_t = diag(f_{t+1}) + (terms through the gates)

When the Jacobians shrink vectors on average, the product shrinks geometrically and the loss
cannot tell what happened 30 steps back (vanishing): PyTorch's default init draws W_hh uniform in
+-1/sqrt(H), whose eigenvalues lie within about 1/sqrt(3) = 0.58, and tanh' <= 1 shrinks further.
Scale W_hh up (every singular value 2, say) and it grows geometrically instead (exploding: one
step can wreck the weights, hence gradient clipping). Pascanu et al. (2013) make this exact: with
tanh, a largest singular value below 1 guarantees vanishing, and exploding needs one above 1.
The LSTM's cell is updated additively, so along c the gradient is scaled only by the forget gate
f. At initialisation f = sigmoid(bias) is about 0.5 and the LSTM forgets as fast as the RNN; a
forget-gate bias of 1 (recommended by Jozefowicz et al. 2015; Keras' default) makes it about 0.73
and the gradient survives orders of magnitude longer. The cells are the project's own
(:mod:`lmforge.models.blocks.recurrent`), stepped one at a time so every h_t can be kept.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import pyplot, save_png
from lmforge.models.blocks.recurrent import LSTMCell, RNNCell


def plain_rnn(input_size: int, hidden_size: int, recurrent_gain: float | None = None) -> RNNCell:
    """A tanh RNN cell; ``recurrent_gain`` g sets W_hh to g x a random orthogonal matrix (every singular value g),
    with zero biases. None keeps PyTorch's default init (uniform +-1/sqrt(H): eigenvalues within ~0.58,
    largest singular value ~1.1)."""
    cell = RNNCell(input_size, hidden_size)
    if recurrent_gain is not None:
        with torch.no_grad():
            nn.init.orthogonal_(cell.weight_hh, gain=recurrent_gain)
            cell.bias_ih.zero_()
            cell.bias_hh.zero_()
    return cell


def lstm(input_size: int, hidden_size: int, forget_bias: float = 1.0) -> LSTMCell:
    """An LSTM cell with PyTorch's init except the forget gate's bias, set to ``forget_bias`` (0: PyTorch's scale)."""
    cell = LSTMCell(input_size, hidden_size)
    h = hidden_size
    with torch.no_grad():  # gate order i, f, g, o: the forget gate is rows h..2h
        cell.bias_ih[h : 2 * h] = forget_bias
        cell.bias_hh[h : 2 * h] = 0.0
    return cell


def hidden_state_gradient_norms(cell: RNNCell | LSTMCell, inputs: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """||d loss / d h_t|| for every step t of inputs (B, T, I) -> (T,), the loss reading only the last state.

    loss = mean over the batch of (h_T . v)^2 with a fixed random v: any loss on h_T would do; what matters is
    how much of it reaches each earlier h_t (an LSTM's h_t also reaches the loss through c_{t+1}).
    """
    if inputs.dim() != 3 or inputs.shape[2] != cell.input_size:
        raise ConfigError(f"inputs must be (batch, steps, {cell.input_size}), got {tuple(inputs.shape)}")
    state = cell.zero_state(inputs.shape[0], inputs)
    hidden = []
    for t in range(inputs.shape[1]):
        state = cell(inputs[:, t], state)
        state[0].retain_grad()  # h_t is not a leaf: ask autograd to keep its gradient
        hidden.append(state[0])
    readout = torch.randn(cell.hidden_size, generator=torch.Generator().manual_seed(seed), dtype=inputs.dtype)
    loss = (hidden[-1] @ readout).pow(2).mean()
    loss.backward()
    return torch.stack([h.grad.norm() for h in hidden]).detach()  # (T,)


def decay(norms: torch.Tensor) -> float:
    """How much of the gradient reaches the first step: ||dL/dh_1|| / ||dL/dh_T|| (< 1 vanishing, > 1 exploding)."""
    return float(norms[0] / norms[-1])


def plot_gradient_norms(curves: dict[str, torch.Tensor], path: str | Path) -> None:
    """One log-scale line per network: ||dL/dh_t|| against t (the loss is on the last step)."""
    fig, ax = pyplot().subplots(figsize=(7, 4))
    for label, norms in curves.items():
        ax.semilogy(range(1, len(norms) + 1), norms.numpy(), label=label)
    ax.set_xlabel("time step t (loss on the last step)")
    ax.set_ylabel("||d loss / d h_t||")
    ax.set_title("gradient reaching each time step")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    save_png(fig, path)
