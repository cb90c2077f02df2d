"""Optimizers beyond AdamW, written out per tensor so the update rule is readable.

- :class:`Lamb` (You et al. 2019, "Large Batch Optimization for Deep Learning"): Adam's direction, rescaled per
  tensor by a *trust ratio* ||w|| / ||update||, so every layer moves by about the same fraction of its own size.
  That is what lets BERT train with batches of 32k+: a single global learning rate would be too large for
  some layers and too small for others once the batch (and the lr with it) grows.
- :class:`Lion` (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): only the *sign* of an
  interpolated momentum, so every coordinate moves by exactly lr; one state tensor instead of Adam's two.
  Its lr wants to be 3-10x smaller than AdamW's and its weight decay 3-10x larger.

Adafactor (factored second moments) is ``torch.optim.Adafactor``; :func:`lmforge.train.schedule.make_optimizer`
builds all of them from a name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class Lamb(torch.optim.Optimizer):
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

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.lerp_(p.grad, 1 - beta1)
                v.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                update = (m / (1 - beta1**t)) / ((v / (1 - beta2**t)).sqrt_().add_(group["eps"]))
                if group["weight_decay"]:
                    update.add_(p, alpha=group["weight_decay"])
                w_norm, u_norm = p.norm(), update.norm()
                # kept on the device (no .item()): a host sync per tensor would stall a GPU every step
                trust = torch.where((w_norm > 0) & (u_norm > 0), w_norm / u_norm, torch.ones_like(w_norm))
                p.sub_(group["lr"] * trust * update)
        return loss


class Lion(torch.optim.Optimizer):
    """Lion, per tensor::

        w *= 1 - lr * wd                                       # decoupled weight decay
        w -= lr * sign(b1 m + (1 - b1) g)                      # every coordinate moves by exactly lr
        m = b2 m + (1 - b2) g                                  # the momentum is updated *after* the step
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99),
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                m = state["exp_avg"]
                p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(torch.lerp(m, p.grad, 1 - beta1).sign_(), alpha=-group["lr"])
                m.lerp_(p.grad, 1 - beta2)
        return loss
