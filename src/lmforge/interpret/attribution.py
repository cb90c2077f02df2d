"""Which input tokens pushed a classifier towards a class: gradient x input and integrated gradients.

Both attribute the logit ``f`` of one class to the *token embeddings* ``x`` (T, E), the first point
where a text is a differentiable tensor (ids are integers). Each token's score is the sum over its E
dimensions, so the scores share the logit's units.

- **Gradient x input** (Shrikumar et al. 2016): ``x * df/dx``, a first-order Taylor term. One
  backward pass, but a saturated model (flat gradient) credits nothing even where the input matters.
- **Integrated gradients** (Sundararajan, Taly & Yan 2017): walk from a baseline ``x'`` (default: all
  zeros, i.e. "no token") to ``x`` and average the gradient along the way::

      IG(x) = (x - x') * integral_0^1 df/dx (x' + a (x - x')) da

  Its *completeness* axiom: the attributions sum to ``f(x) - f(x')`` exactly, whatever the model.
  The integral is a ``steps``-point Gauss-Legendre rule (captum's default method), exact for
  polynomial paths of degree < 2 * steps; ``convergence_delta`` = sum(IG) - (f(x) - f(x')) says how
  far the quadrature is from that.

The embeddings are swapped in by a forward hook on the backbone's token embedding (what captum's
``Layer*`` attributions do), so every family a :class:`~lmforge.tasks.heads.TaskModel` accepts
works unchanged: position, segment embeddings and norms still run inside the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.tasks.heads import TaskModel


@dataclass(frozen=True)
class Attribution:
    """Attributions of one class logit to one text's token embeddings."""

    values: torch.Tensor  # (T, E): per token and embedding dimension
    target: int  # the class whose logit is explained
    convergence_delta: float | None = None  # integrated gradients: sum(values) - (f(x) - f(baseline))

    @property
    def per_token(self) -> torch.Tensor:
        """(T,): each token's share of the logit (its E dimensions summed)."""
        return self.values.sum(-1)


def token_embedding(model: TaskModel) -> nn.Embedding:
    """The backbone's token embedding table (every lmforge family names it ``tok_emb``)."""
    table = getattr(model.backbone, "tok_emb", None)
    if not isinstance(table, nn.Embedding):
        raise ConfigError(f"a {model.config.backbone.get('family')!r} backbone has no plain token embedding to "
                          f"attribute to (found {type(table).__name__})")
    return table


@contextmanager
def _embeddings_replaced(table: nn.Embedding, embeddings: torch.Tensor) -> Iterator[None]:
    """Inside the block, the embedding layer outputs ``embeddings`` (B, T, E) instead of looking ids up."""
    handle = table.register_forward_hook(lambda module, args, out: embeddings)
    try:
        yield
    finally:
        handle.remove()


def _target_logits(model: TaskModel, ids: torch.Tensor, embeddings: torch.Tensor, target: int) -> torch.Tensor:
    """Class ``target``'s logit for each row of ``embeddings`` (B, T, E) of the text ``ids`` (T,): (B,)."""
    batch = ids.expand(embeddings.shape[0], -1)  # (B, T): the ids still decide positions, padding, pooling
    with _embeddings_replaced(token_embedding(model), embeddings):
        return model(batch, torch.ones_like(batch))[:, target]


def _check(model: TaskModel, ids: torch.Tensor, target: int) -> None:
    if model.training:
        raise ConfigError("attributions need the model in eval mode (dropout makes the gradients random): "
                          "call model.eval() first")
    if ids.ndim != 1 or ids.numel() == 0:
        raise ConfigError(f"attribute one text at a time: ids must be a non-empty (T,) tensor, got {tuple(ids.shape)}")
    if not 0 <= target < len(model.config.labels):
        raise ConfigError(f"target {target} is not a class index of {model.config.labels}")


def gradient_x_input(model: TaskModel, ids: torch.Tensor, target: int) -> Attribution:
    """``x * d f_target / dx`` for the token embeddings ``x`` of ``ids`` (T,)."""
    _check(model, ids, target)
    with torch.enable_grad():
        x = token_embedding(model)(ids).detach()[None].requires_grad_(True)  # (1, T, E)
        (grad,) = torch.autograd.grad(_target_logits(model, ids, x, target).sum(), x)
    return Attribution((x * grad)[0].detach(), target)


def integrated_gradients(model: TaskModel, ids: torch.Tensor, target: int, baseline: torch.Tensor | None = None,
                         steps: int = 50, batch_size: int = 16) -> Attribution:
    """Integrated gradients from ``baseline`` (T, E; default zeros) to the embeddings of ``ids`` (T,).

    ``steps`` points on the path, ``batch_size`` of them per forward/backward pass.
    """
    _check(model, ids, target)
    if steps < 1 or batch_size < 1:
        raise ConfigError(f"steps and batch_size must be positive, got {steps} and {batch_size}")
    x = token_embedding(model)(ids).detach()  # (T, E)
    x0 = torch.zeros_like(x) if baseline is None else baseline.detach().to(x.dtype)
    if x0.shape != x.shape:
        raise ConfigError(f"the baseline must have the embeddings' shape {tuple(x.shape)}, got {tuple(x0.shape)}")
    nodes, weights = np.polynomial.legendre.leggauss(steps)  # on [-1, 1]; mapped to alphas in [0, 1]
    alphas = torch.tensor(0.5 * (nodes + 1.0), dtype=x.dtype)
    weights = torch.tensor(0.5 * weights, dtype=x.dtype)
    avg_grad = torch.zeros_like(x)
    with torch.enable_grad():
        for a, w in zip(alphas.split(batch_size), weights.split(batch_size), strict=True):
            path = (x0 + a[:, None, None] * (x - x0)).requires_grad_(True)  # (k, T, E)
            (grad,) = torch.autograd.grad(_target_logits(model, ids, path, target).sum(), path)
            avg_grad += (w[:, None, None] * grad).sum(0)
    values = (x - x0) * avg_grad  # (T, E)
    with torch.no_grad():
        ends = _target_logits(model, ids, torch.stack([x, x0]), target)  # f(x), f(baseline)
    delta = float(values.sum() - (ends[0] - ends[1]))
    return Attribution(values, target, delta)
