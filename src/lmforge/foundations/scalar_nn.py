"""A tiny neural network built from :class:`~lmforge.foundations.autograd.Value` scalars (micrograd's nn.py idea).

Every weight is one Value, so a forward pass builds a graph of thousands of scalar operations and
``loss.backward()`` fills every weight's ``grad``: slow (pure Python), but nothing is hidden. The
training objective is micrograd's demo: a max-margin (SVM) loss on labels +-1 plus L2 regularisation,
plain gradient descent with a decaying learning rate. :func:`torch_gradients` computes the same loss
and gradients with torch.autograd on the same weights, as the reference.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import torch

from lmforge.errors import ConfigError
from lmforge.foundations.autograd import Value

ALPHA = 1e-4  # L2 strength of micrograd's demo


class ScalarMLP:
    """Fully connected layers of Values: ReLU between layers, a linear output (one score per output)."""

    def __init__(self, sizes: Sequence[int], seed: int = 0) -> None:
        if len(sizes) < 2 or min(sizes) <= 0:
            raise ConfigError(f"sizes must list at least an input and an output width, all positive; got {sizes}")
        rng = random.Random(seed)
        # layers[l] = (weights[out][in], biases[out]), uniform(-1, 1) init as micrograd
        self.layers = [([[Value(rng.uniform(-1, 1)) for _ in range(n_in)] for _ in range(n_out)],
                        [Value(0.0) for _ in range(n_out)]) for n_in, n_out in zip(sizes, sizes[1:], strict=False)]

    def parameters(self) -> list[Value]:
        """Every weight (layer by layer, row by row), then every bias: the order torch_gradients uses."""
        weights = [w for layer_weights, _ in self.layers for row in layer_weights for w in row]
        return weights + [b for _, biases in self.layers for b in biases]

    def __call__(self, x: Sequence[float | Value]) -> list[Value]:
        h = [v if isinstance(v, Value) else Value(v) for v in x]
        for i, (weights, biases) in enumerate(self.layers):
            h = [sum((w * xi for w, xi in zip(row, h, strict=True)), b) for row, b in zip(weights, biases, strict=True)]
            if i < len(self.layers) - 1:
                h = [v.relu() for v in h]
        return h


def margin_loss(model: ScalarMLP, x: Sequence[Sequence[float]], y: Sequence[int]) -> tuple[Value, float]:
    """Mean hinge loss max(0, 1 - y * score) over labels y in {-1, +1}, plus ALPHA * sum(w^2); and the accuracy."""
    scores = [model(row)[0] for row in x]
    hinge = sum(((1 + -yi * s).relu() for yi, s in zip(y, scores, strict=True)), Value(0.0)) * (1.0 / len(y))
    l2 = ALPHA * sum((p * p for p in model.parameters()), Value(0.0))
    accuracy = sum((s.data > 0) == (yi > 0) for yi, s in zip(y, scores, strict=True)) / len(y)
    return hinge + l2, accuracy


def fit(model: ScalarMLP, x: Sequence[Sequence[float]], y: Sequence[int], steps: int = 100,
        deadline: float | None = None) -> list[tuple[float, float]]:
    """Full-batch gradient descent with micrograd's schedule lr = 1 - 0.9 k / steps; (loss, accuracy) per step.
    At least one step is made; after that the loop stops early at ``deadline`` (a ``time.monotonic()`` value)."""
    history = []
    for k in range(steps):
        if k and deadline is not None and time.monotonic() >= deadline:
            break
        loss, accuracy = margin_loss(model, x, y)
        loss.backward()
        lr = 1.0 - 0.9 * k / steps
        for p in model.parameters():
            p.data -= lr * p.grad
        history.append((loss.data, accuracy))
    return history


def torch_gradients(model: ScalarMLP, x: Sequence[Sequence[float]], y: Sequence[int]) -> tuple[float, list[float]]:
    """The same loss and its gradient for every parameter (in ``parameters()`` order), by torch.autograd in float64."""
    tensors = [(torch.tensor([[w.data for w in row] for row in weights], dtype=torch.float64, requires_grad=True),
                torch.tensor([b.data for b in biases], dtype=torch.float64, requires_grad=True))
               for weights, biases in model.layers]
    h = torch.tensor(x, dtype=torch.float64)  # (N, D)
    for i, (w, b) in enumerate(tensors):
        h = h @ w.T + b
        h = torch.relu(h) if i < len(tensors) - 1 else h
    labels = torch.tensor(y, dtype=torch.float64)
    params = [w for w, _ in tensors] + [b for _, b in tensors]
    loss = torch.relu(1 - labels * h[:, 0]).mean() + ALPHA * sum((p * p).sum() for p in params)
    loss.backward()
    return loss.item(), [g for p in params for g in p.grad.flatten().tolist()]
