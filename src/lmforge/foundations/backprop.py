"""A multilayer perceptron whose backward pass is written out by hand, layer by layer.

Forward, for a batch X (N, D) and layers l = 1..L (tanh between them, none after the last)::

    Z_l = A_{l-1} @ W_l + b_l            A_0 = X,  W_l (D_{l-1}, D_l)
    A_l = tanh(Z_l)                      (l < L)
    P   = softmax(Z_L)                   loss = -mean_n log P[n, y_n]

Backward, the chain rule in matrix form (each line is the derivative of the mean loss)::

    dZ_L = (P - onehot(y)) / N           softmax + cross-entropy collapse to this
    dW_l = A_{l-1}^T @ dZ_l              (D_{l-1}, D_l): sum over the batch of outer products
    db_l = sum_n dZ_l[n]                 (D_l,)
    dA_{l-1} = dZ_l @ W_l^T              (N, D_{l-1}): how the loss moves with the layer below
    dZ_{l-1} = dA_{l-1} * (1 - A_{l-1}^2)  tanh' = 1 - tanh^2, element-wise

Nothing here calls ``.backward()``: tensors are plain data (no ``requires_grad``), and
``tests/foundations/test_backprop.py`` checks every gradient against ``torch.autograd`` (float64).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from lmforge.errors import ConfigError


@dataclass
class Gradients:
    weights: list[torch.Tensor]  # dloss/dW_l, each (D_{l-1}, D_l)
    biases: list[torch.Tensor]  # dloss/db_l, each (D_l,)


class ManualMLP:
    """Weights ``W_l`` (in, out) and biases ``b_l``; ``loss_and_gradients`` is forward + hand-written backward."""

    def __init__(self, sizes: list[int], generator: torch.Generator | None = None,
                 dtype: torch.dtype = torch.float64) -> None:
        if len(sizes) < 2 or min(sizes) <= 0:
            raise ConfigError(f"sizes must list at least an input and an output width, all positive; got {sizes}")
        # Xavier/Glorot scale keeps tanh pre-activations O(1) at any width
        self.weights = [torch.randn(i, o, generator=generator, dtype=dtype) * (1.0 / i) ** 0.5
                        for i, o in zip(sizes, sizes[1:], strict=False)]
        self.biases = [torch.zeros(o, dtype=dtype) for o in sizes[1:]]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Inputs (N, D) -> the activations the backward pass needs: [A_0 = X, A_1, ..., A_{L-1}, Z_L (logits)]."""
        cache = [x]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = cache[-1] @ w + b  # (N, D_l)
            cache.append(z if layer == len(self.weights) - 1 else torch.tanh(z))
        return cache

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)[-1]

    def loss_and_gradients(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, Gradients]:
        """Mean cross-entropy of inputs (N, D) with class ids y (N,), and its gradient for every parameter."""
        cache = self.forward(x)
        logits = cache[-1]  # (N, C)
        log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # stable log-softmax
        n = len(y)
        loss = -log_p[torch.arange(n), y].mean()
        dz = log_p.exp()  # (N, C): softmax probabilities P
        dz[torch.arange(n), y] -= 1.0  # P - onehot(y)
        dz /= n
        grad_w: list[torch.Tensor] = []
        grad_b: list[torch.Tensor] = []
        for layer in reversed(range(len(self.weights))):
            a_below = cache[layer]  # (N, D_{l-1})
            grad_w.append(a_below.T @ dz)
            grad_b.append(dz.sum(dim=0))
            if layer > 0:
                da = dz @ self.weights[layer].T  # (N, D_{l-1})
                dz = da * (1.0 - a_below**2)  # through the tanh that produced a_below
        return float(loss), Gradients(grad_w[::-1], grad_b[::-1])

    def sgd_step(self, grads: Gradients, lr: float) -> None:
        for param, grad in zip(self.weights + self.biases, grads.weights + grads.biases, strict=True):
            param -= lr * grad


def fit_sgd(mlp: ManualMLP, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float = 0.1, batch_size: int = 64,
            seed: int = 0, deadline: float | None = None) -> list[float]:
    """Mini-batch SGD with the hand-written gradients; the loss of every step (at least one step, then it stops
    early at ``deadline``)."""
    g = torch.Generator().manual_seed(seed)
    losses = []
    for step in range(steps):
        if step and deadline is not None and time.monotonic() >= deadline:
            break
        rows = torch.randint(0, len(x), (batch_size,), generator=g)
        loss, grads = mlp.loss_and_gradients(x[rows], y[rows])
        mlp.sgd_step(grads, lr)
        losses.append(loss)
    return losses


def autograd_gradients(mlp: ManualMLP, x: torch.Tensor, y: torch.Tensor) -> Gradients:
    """The reference: the same forward pass on copies of the weights, differentiated by torch.autograd."""
    weights = [w.clone().requires_grad_() for w in mlp.weights]
    biases = [b.clone().requires_grad_() for b in mlp.biases]
    h = x
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w + b
        h = h if layer == len(weights) - 1 else torch.tanh(h)
    torch.nn.functional.cross_entropy(h, y).backward()
    return Gradients([w.grad for w in weights], [b.grad for b in biases])
