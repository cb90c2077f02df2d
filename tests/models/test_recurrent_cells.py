"""Our gate-by-gate RNN/LSTM/GRU cells and stacks against torch.nn with copied weights."""

import pytest
import torch
from torch import nn

from lmforge.models.blocks.recurrent import CELLS, RecurrentStack

TORCH_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
TORCH_STACKS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
KINDS = sorted(CELLS)


def torch_stack_like(stack: RecurrentStack, dropout: float) -> nn.RNNBase:
    """A torch.nn.RNN/LSTM/GRU holding a copy of ``stack``'s weights."""
    first = stack.cells[0]
    ref = TORCH_STACKS[stack.cell_type](first.input_size, first.hidden_size, stack.n_layers, batch_first=True,
                                        dropout=dropout)
    with torch.no_grad():
        for layer, cell in enumerate(stack.cells):
            for name, p in cell.named_parameters():
                getattr(ref, f"{name}_l{layer}").copy_(p)
    return ref


def as_torch_state(kind, state):
    return state if kind == "lstm" else state[0]


@pytest.mark.parametrize("kind", KINDS)
def test_cell_matches_torch_cell(kind):
    ours = CELLS[kind](6, 10)
    ref = TORCH_CELLS[kind](6, 10)
    ref.load_state_dict(ours.state_dict())  # same parameter names and layout
    x = torch.randn(4, 6)
    state = tuple(torch.randn(4, 10) for _ in range(ours.n_states))
    got = ours(x, state)
    want = ref(x, as_torch_state(kind, state))
    want = want if kind == "lstm" else (want,)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("train_mode", [False, True])
def test_multilayer_stack_matches_torch(kind, train_mode):
    """Three layers, a given initial state; dropout configured but off (eval), or 0 in train mode."""
    dropout = 0.0 if train_mode else 0.5
    ours = RecurrentStack(kind, 5, 8, n_layers=3, dropout=dropout, impl="reference").train(train_mode)
    ref = torch_stack_like(ours, dropout).train(train_mode)
    x = torch.randn(3, 7, 5)
    state = tuple(torch.randn(3, 3, 8) for _ in range(ours.cells[0].n_states))  # (L, B, H)
    out, new_state = ours(x, state)
    ref_out, ref_state = ref(x, as_torch_state(kind, state))
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=0)
    for g, w in zip(new_state, ref_state if kind == "lstm" else (ref_state,), strict=True):
        torch.testing.assert_close(g, w, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_path_matches_reference_forward_and_gradients(kind):
    stack = RecurrentStack(kind, 5, 8, n_layers=2, impl="reference")
    x = torch.randn(2, 9, 5)
    results = {}
    for impl in ("reference", "torch"):
        stack.impl = impl
        stack.zero_grad()
        out, state = stack(x)
        (out.square().sum() + state[-1].sum()).backward()
        results[impl] = (out.detach(), [p.grad.clone() for p in stack.parameters()])
    torch.testing.assert_close(results["reference"][0], results["torch"][0], atol=1e-5, rtol=0)
    for g_ref, g_fused in zip(results["reference"][1], results["torch"][1], strict=True):
        torch.testing.assert_close(g_ref, g_fused, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("impl", ["reference", "torch"])
def test_dropout_acts_between_layers_only_in_training(impl):
    stack = RecurrentStack("lstm", 4, 8, n_layers=2, dropout=0.5, impl=impl)
    x = torch.randn(2, 5, 4)
    assert not torch.equal(stack(x)[0], stack(x)[0])  # two different dropout masks
    stack.eval()
    assert torch.equal(stack(x)[0], stack(x)[0])


def test_stack_state_lets_a_sequence_be_fed_in_pieces():
    """Feeding tokens in two chunks with the carried state == one pass (what generation relies on)."""
    stack = RecurrentStack("gru", 4, 6, n_layers=2, impl="reference")
    x = torch.randn(2, 8, 4)
    whole, _ = stack(x)
    first, state = stack(x[:, :5])
    second, _ = stack(x[:, 5:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-6, rtol=0)


def test_stack_has_no_parameters_but_its_cells():
    stack = RecurrentStack("lstm", 4, 6, n_layers=2)
    names = [name for name, _ in stack.named_parameters()]
    assert names == [f"cells.{layer}.{w}" for layer in range(2)
                     for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
