"""A scalar automatic-differentiation engine: backpropagation in ~100 lines (after micrograd).

Every :class:`Value` remembers the values it was computed from and how to pass a gradient back to
them (its local derivative). ``loss.backward()`` then applies the chain rule once per node, in
reverse topological order, so each node's gradient is complete before it is handed on:

    x = Value(2.0); y = Value(-3.0)
    z = (x * y + x.exp()).tanh()
    z.backward()            # x.grad = dz/dx, y.grad = dz/dy

Gradients *add up* (``+=``): a value used twice (``x * x``) receives a contribution along each
path, which is the multivariate chain rule. ``torch.autograd`` does the same on tensors;
``tests/foundations/test_autograd.py`` checks the two agree on random expression graphs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Number = int | float


class Value:
    """A scalar in a computation graph, with ``data`` and the ``grad`` of the final output w.r.t. it."""

    __slots__ = ("data", "grad", "parents", "op", "_backward")  # millions of these in a training run: keep them small

    def __init__(self, data: Number, parents: tuple[Value, ...] = (), op: str = "") -> None:
        self.data = float(data)
        self.grad = 0.0
        self.parents = parents
        self.op = op  # for printing the graph: "+", "*", "tanh", ...
        self._backward: Callable[[], None] = lambda: None  # adds self.grad * d self / d parent to each parent

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"

    # ------------------------------------------------------------- operations
    def __add__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def backward() -> None:  # d(a + b)/da = d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def backward() -> None:  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    def __pow__(self, exponent: Number) -> Value:
        """A constant exponent only (a ** b with b a Value would need log a: write (b * a.log()).exp())."""
        if not isinstance(exponent, (int, float)):
            raise TypeError("Value ** x supports a constant int/float exponent only")
        out = Value(self.data**exponent, (self,), f"**{exponent}")

        def backward() -> None:  # d(a^k)/da = k a^(k-1)
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = backward
        return out

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def backward() -> None:  # d tanh(a)/da = 1 - tanh(a)^2: the output is all we need
            self.grad += (1.0 - t * t) * out.grad

        out._backward = backward
        return out

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def backward() -> None:  # 1 where the input was positive, 0 elsewhere (0 at 0, as torch)
            self.grad += (self.data > 0) * out.grad

        out._backward = backward
        return out

    def exp(self) -> Value:
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def backward() -> None:  # d e^a/da = e^a
            self.grad += e * out.grad

        out._backward = backward
        return out

    def log(self) -> Value:
        out = Value(math.log(self.data), (self,), "log")

        def backward() -> None:  # d ln(a)/da = 1/a
            self.grad += out.grad / self.data

        out._backward = backward
        return out

    # -------------------------------------------- the rest, built from the above
    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-_as_value(other))

    def __truediv__(self, other: Value | Number) -> Value:
        return self * _as_value(other) ** -1

    def __radd__(self, other: Number) -> Value:
        return self + other

    def __rmul__(self, other: Number) -> Value:
        return self * other

    def __rsub__(self, other: Number) -> Value:
        return _as_value(other) - self

    def __rtruediv__(self, other: Number) -> Value:
        return _as_value(other) / self

    # ------------------------------------------------------------- backward
    def backward(self) -> None:
        """Fill ``grad`` of every value this one depends on with d self / d value."""
        order = topological_order(self)
        for node in order:
            node.grad = 0.0
        self.grad = 1.0  # d self / d self
        for node in reversed(order):  # outputs before inputs: a node's grad is final before it is passed on
            node._backward()


def topological_order(root: Value) -> list[Value]:
    """Every value ``root`` depends on, each after all of its parents (iterative DFS: deep graphs are fine)."""
    order: list[Value] = []
    seen: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((p, False) for p in node.parents if id(p) not in seen)
    return order


def _as_value(x: Value | Number) -> Value:
    return x if isinstance(x, Value) else Value(x)
