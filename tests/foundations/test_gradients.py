"""Vanishing and exploding gradients through time, measured per step (fp32, seeded)."""

from __future__ import annotations

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.foundations.gradients import (
    decay,
    hidden_state_gradient_norms,
    lstm,
    plain_rnn,
    plot_gradient_norms,
)

STEPS, BATCH, INPUT, HIDDEN = 50, 16, 32, 64


def _inputs(scale: float = 1.0) -> torch.Tensor:
    return torch.randn(BATCH, STEPS, INPUT, generator=torch.Generator().manual_seed(0)) * scale


def test_plain_rnn_gradient_vanishes_much_faster_than_the_lstm(tmp_path):
    torch.manual_seed(0)
    rnn = hidden_state_gradient_norms(plain_rnn(INPUT, HIDDEN), _inputs())
    torch.manual_seed(0)
    cell = hidden_state_gradient_norms(lstm(INPUT, HIDDEN, forget_bias=1.0), _inputs())
    assert rnn.shape == cell.shape == (STEPS,)
    assert decay(rnn) < 1e-10  # measured 5.0e-16: 50 steps of (|W_hh| tanh') < 1
    assert decay(cell) > 1e-7  # measured 5.5e-6 (forget gate ~0.73)
    assert decay(rnn) < 1e-5 * decay(cell)
    plot_gradient_norms({"RNN": rnn, "LSTM": cell}, tmp_path / "grads.png")
    assert (tmp_path / "grads.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lstm_at_pytorch_init_forgets_like_the_rnn():
    """The gates alone do not save the gradient: with forget bias 0, f ~ 0.5 and the cell path decays too."""
    torch.manual_seed(0)
    zero_bias = decay(hidden_state_gradient_norms(lstm(INPUT, HIDDEN, forget_bias=0.0), _inputs()))
    torch.manual_seed(0)
    unit_bias = decay(hidden_state_gradient_norms(lstm(INPUT, HIDDEN, forget_bias=1.0), _inputs()))
    assert zero_bias < 1e-4 * unit_bias  # measured 2.1e-12 vs 5.5e-6


@pytest.mark.parametrize(("gain", "vanishes"), [(0.5, True), (2.0, False)])
def test_recurrent_gain_decides_vanishing_or_exploding(gain, vanishes):
    torch.manual_seed(0)
    ratio = decay(hidden_state_gradient_norms(plain_rnn(INPUT, HIDDEN, recurrent_gain=gain), _inputs(0.1)))
    assert (ratio < 1e-6) if vanishes else (ratio > 1e3)  # measured 1.6e-15 and 1.2e4


def test_inputs_must_match_the_cell():
    with pytest.raises(ConfigError, match="inputs must be"):
        hidden_state_gradient_norms(plain_rnn(INPUT, HIDDEN), torch.zeros(2, 3, INPUT + 1))
