"""The scalar engine against torch.autograd on random expression graphs (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmforge.foundations.autograd import Value, topological_order

UNARY = ("tanh", "relu", "exp", "log", "square", "neg")
BINARY = ("+", "*", "-", "/")


def _apply(op: str, args, torch_mode: bool):
    """One operation on Values or on torch scalars; log/div get positive arguments so both stay finite."""
    a = args[0]
    if op == "tanh":
        return a.tanh()
    if op == "relu":
        return a.relu()
    if op == "exp":
        return (a.tanh() * 2).exp()  # bounded exponent: no overflow deep in a graph
    if op == "log":
        return (a * a + 0.5).log()
    if op == "square":
        return a**2
    if op == "neg":
        return -a
    b = args[1]
    if op == "+":
        return a + b
    if op == "*":
        return (a * b).tanh()  # keep magnitudes bounded through long chains of products
    if op == "-":
        return a - b
    return a / (b * b + 1.0)


# a program: leaf values, then operations reading any earlier node (so nodes are reused: a DAG, not a tree)
programs = st.integers(2, 5).flatmap(lambda n_leaves: st.tuples(
    st.lists(st.floats(-2.0, 2.0, allow_nan=False).filter(lambda x: abs(x) > 1e-3), min_size=n_leaves,
             max_size=n_leaves),
    st.lists(st.tuples(st.sampled_from(UNARY + BINARY), st.integers(0, 10_000), st.integers(0, 10_000)),
             min_size=1, max_size=25),
))


def _run(leaves, ops, torch_mode: bool):
    nodes = [torch.tensor(x, dtype=torch.float64, requires_grad=True) if torch_mode else Value(x) for x in leaves]
    inputs = list(nodes)
    for op, i, j in ops:
        nodes.append(_apply(op, (nodes[i % len(nodes)], nodes[j % len(nodes)]), torch_mode))
    out = nodes[-1]
    for node in nodes[len(leaves):-1]:  # every intermediate feeds the output too: all paths carry gradient
        out = out + 0.1 * node
    return inputs, out


@settings(max_examples=200, deadline=None)
@given(programs)
def test_gradients_match_torch_autograd(program):
    leaves, ops = program
    ours_in, ours_out = _run(leaves, ops, torch_mode=False)
    ref_in, ref_out = _run(leaves, ops, torch_mode=True)
    ours_out.backward()
    ref_out.backward()
    assert ours_out.data == pytest.approx(ref_out.item(), rel=1e-12, abs=1e-12)
    for v, t in zip(ours_in, ref_in, strict=True):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_a_value_used_twice_gets_both_contributions():
    x = Value(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_backward_twice_gives_the_same_gradients_not_their_sum():
    x = Value(0.5)
    y = (x * 2).tanh()
    y.backward()
    first = x.grad
    y.backward()
    assert x.grad == first == pytest.approx(2 * (1 - math.tanh(1.0) ** 2))


def test_deep_chain_needs_no_recursion():
    x = Value(0.1)
    y = x
    for _ in range(5000):  # deeper than Python's default recursion limit
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0
    assert len(topological_order(y)) > 5000


def test_pow_needs_a_constant_exponent():
    with pytest.raises(TypeError, match="constant"):
        Value(2.0) ** Value(3.0)
