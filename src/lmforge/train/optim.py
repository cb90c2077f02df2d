"""Optimizers beyond AdamW, written out per tensor so the update rule is readable.

- :class:`Lamb` (You et al. 2019, "Large Batch Optimization for Deep Learning"): Adam's direction, rescaled per
  tensor by a *trust ratio* ||w|| / ||update||, so every layer moves by about the same fraction of its own size.
  That is what lets BERT train with batches of 32k+: a single global learning rate would be too large for
  some layers and too small for others once the batch (and the lr with it) grows.
- :class:`Lion` (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): only the *sign* of an
  interpolated momentum, so every coordinate moves by exactly lr; one state tensor instead of Adam's two.
  Its lr wants to be 3-10x smaller than AdamW's and its weight decay 3-10x larger.

- :class:`Muon` (Keller Jordan 2024, used in the modded-nanogpt speedruns): SGD momentum on each weight
  *matrix*, with the update replaced by the nearest orthogonal matrix (:func:`newton_schulz`), so every
  direction of the matrix moves by the same amount instead of a few dominant ones; embeddings, the LM head,
  norms and biases stay on AdamW inside the same optimizer.

Adafactor (factored second moments) is ``torch.optim.Adafactor``; :func:`lmforge.train.schedule.make_optimizer`
builds all of them from a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class PerTensorOptimizer(torch.optim.Optimizer):
    """What every optimizer here shares: ``step`` visits each parameter that has a gradient and applies
    :meth:`update` to it, so a subclass writes only its update rule."""

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, group, self.state[p])
        return loss

    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        raise NotImplementedError


def adam_direction(p: torch.Tensor, state: dict[str, Any], betas: tuple[float, float], eps: float) -> torch.Tensor:
    """Advance Adam's moments in ``state`` by ``p.grad`` and return the bias-corrected ``m / (sqrt(v) + eps)``."""
    beta1, beta2 = betas
    if not state:
        state["step"] = 0
        state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    state["step"] += 1
    m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
    m.lerp_(p.grad, 1 - beta1)
    v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
    return (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt_().add_(eps))


class Lamb(PerTensorOptimizer):
    """LAMB with decoupled weight decay inside the update (the paper's Algorithm 2), per tensor::

        m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2               # Adam's moments
        r = m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + wd * w      # Adam direction + decay
        trust = ||w|| / ||r||   (1 when either norm is 0)
        w -= lr * trust * r

    A tensor at zero (a fresh bias) has ||w|| = 0 and would never move, hence trust 1 there.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        update = adam_direction(p, state, group["betas"], group["eps"])
        if group["weight_decay"]:
            update.add_(p, alpha=group["weight_decay"])
        w_norm, u_norm = p.norm(), update.norm()
        # kept on the device (no .item()): a host sync per tensor would stall a GPU every step
        trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
        p.sub_(group["lr"] * trust * update)


class Lion(PerTensorOptimizer):
    """Lion, per tensor::

        w *= 1 - lr * wd                                       # decoupled weight decay
        w -= lr * sign(b1 m + (1 - b1) g)                      # every coordinate moves by exactly lr
        m = b2 m + (1 - b2) g                                  # the momentum is updated *after* the step
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        m = state["exp_avg"]
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(torch.lerp(m, p.grad, 1 - beta1).sign_(), alpha=-group["lr"])
        m.lerp_(p.grad, 1 - beta2)


#: Newton-Schulz quintic coefficients tuned by Keller Jordan: the steepest slope at 0 that still keeps every
#: singular value inside about [0.7, 1.2] after 5 iterations (good enough for an update direction, and much
#: faster to reach than the exact polar factor).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(g: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximately U V^T for g = U S V^T (the orthogonal polar factor), by an odd matrix polynomial::

        X = g / ||g||_F                          # every singular value now <= 1
        repeat: X = a X + b (X X^T) X + c (X X^T)^2 X

    Each iteration maps every singular value s to a s + b s^3 + c s^5 and leaves the singular vectors alone,
    pushing all s towards ~1. Works on the wide orientation (rows <= cols), where X X^T is the smaller Gram
    matrix. ``g``: (rows, cols) -> same shape.
    """
    a, b, c = NS_COEFFICIENTS
    tall = g.shape[0] > g.shape[1]
    x = g.mT if tall else g
    x = x / (x.norm() + eps)
    for _ in range(steps):
        gram = x @ x.mT  # (rows, rows)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.mT if tall else x


class Muon(PerTensorOptimizer):
    """Muon for groups with ``use_muon=True`` (2-D weight matrices), AdamW for the others, per tensor::

        Muon:   m = mu m + (1 - mu) g;   u = (1 - mu) g + mu m  (Nesterov)
                w *= 1 - lr * wd;        w -= lr * sqrt(max(1, rows/cols)) * newton_schulz(u)
        AdamW:  the usual bias-corrected moments, decoupled weight decay

    The orthogonalized update has every singular value ~1, so its size no longer depends on the gradient's
    scale; the sqrt(rows/cols) factor gives tall matrices the same per-entry size as wide ones. The
    iteration runs in the parameters' dtype (fp32 on CPU, where bf16 matmuls are no faster without
    AVX-512-BF16); the matrices here are small. A group's ``lr_scale`` is the ratio of its peak lr to the
    Trainer's (which sets ``lr = scheduled lr * lr_scale`` every step), so Muon's lr follows the same schedule.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.02, momentum: float = 0.95, nesterov: bool = True,
                 ns_steps: int = 5, betas: tuple[float, float] = (0.9, 0.95), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps, betas=betas, eps=eps,
                        weight_decay=weight_decay, use_muon=True)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["use_muon"] and any(p.ndim != 2 for p in group["params"]):
                raise ValueError("Muon orthogonalizes matrices: a use_muon group may hold only 2-D parameters")

    def update(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        (self._muon if group["use_muon"] else self._adamw)(p, group, state)

    def _muon(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        mu = group["momentum"]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(p)
        m = state["momentum_buffer"]
        m.lerp_(p.grad, 1 - mu)
        update = p.grad.lerp(m, mu) if group["nesterov"] else m
        update = newton_schulz(update, group["ns_steps"])
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(update, alpha=-group["lr"] * max(1.0, p.shape[0] / p.shape[1]) ** 0.5)

    def _adamw(self, p: torch.Tensor, group: dict[str, Any], state: dict[str, Any]) -> None:
        update = adam_direction(p, state, group["betas"], group["eps"])
        p.mul_(1 - group["lr"] * group["weight_decay"])
        p.add_(update, alpha=-group["lr"])
