"""Optimizers by name, their parameter groups, and the learning-rate schedules (cosine, linear, WSD)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.train.optim import Lamb, Lion, Muon


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay only matrices that multiply activations.

    Biases and norm gains are scale/offset parameters (decaying them to 0 only
    hurts), and embedding rows are looked up, not multiplied, so decaying rare
    tokens' rows towards 0 between their rare updates is harmful too.
    """
    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 and id(p) not in embeddings else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


OPTIMIZERS: tuple[str, ...] = ("adamw", "lamb", "lion", "adafactor", "muon")
LR_SCHEDULES: tuple[str, ...] = ("cosine", "linear", "wsd")


def muon_groups(model: nn.Module, weight_decay: float, lr: float, muon_lr: float) -> list[dict]:
    """:func:`param_groups` with the decayed matrices inside the blocks on Muon (peak lr ``muon_lr``).

    The LM head (any module's ``lm_head``) stays on AdamW with the embeddings, norms and biases, as in the
    speedruns: its rows are per-token outputs, like the embedding's rows, not a map between hidden spaces.
    ``lr_scale`` makes the Trainer's scheduled lr (AdamW's) become ``muon_lr`` at its peak for Muon.
    """
    decay, no_decay = param_groups(model, weight_decay)
    heads = {id(m.lm_head.weight) for m in model.modules() if isinstance(getattr(m, "lm_head", None), nn.Linear)}
    matrices = [p for p in decay["params"] if id(p) not in heads]
    head = [p for p in decay["params"] if id(p) in heads]
    groups = [{"params": matrices, "weight_decay": weight_decay, "use_muon": True, "lr_scale": muon_lr / lr},
              {"params": head, "weight_decay": weight_decay, "use_muon": False},
              {**no_decay, "use_muon": False}]
    return [g for g in groups if g["params"]]


def make_optimizer(model: nn.Module, lr: float, weight_decay: float, betas: tuple[float, float],
                   name: str = "adamw", muon_lr: float = 0.02) -> torch.optim.Optimizer:
    """``name`` in :data:`OPTIMIZERS` over :func:`param_groups` (biases, norms, embeddings undecayed);
    "muon" over :func:`muon_groups`, its matrices at peak lr ``muon_lr``.

    Every optimizer keeps its state on the parameters' device, so build it after the model is moved.
    """
    if name == "muon":
        return Muon(muon_groups(model, weight_decay, lr, muon_lr), lr=lr, betas=betas)
    groups = param_groups(model, weight_decay)
    if name == "lamb":
        return Lamb(groups, lr=lr, betas=betas)
    if name == "lion":
        return Lion(groups, lr=lr, betas=betas)
    if name == "adafactor":  # factored second moments: O(rows + cols) state per matrix; no first moment, no betas
        return torch.optim.Adafactor(groups, lr=lr)
    if name != "adamw":
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}; got {name!r}")
    try:  # the fused kernel is one pass over all parameters: noticeably faster on CPU for small models
        return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=lr, betas=betas, foreach=True)


def cosine_lr(progress: float, lr: float, min_lr: float, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` fraction of training, then cosine decay to ``min_lr``.

    ``progress`` runs from 0 to 1 (steps done over steps planned, or time spent
    over the time budget). Warm-up keeps Adam's early, noisy updates small.
    """
    if progress < warmup:
        return lr * (progress / warmup if warmup > 0 else 1.0)
    frac = min(1.0, (progress - warmup) / max(1e-12, 1.0 - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * frac))


def linear_lr(progress: float, lr: float, min_lr: float, warmup: float) -> float:
    """Linear warm-up, then a straight line from ``lr`` down to ``min_lr`` at the end: WSD with no stable part."""
    return wsd_lr(progress, lr, min_lr, warmup, 1.0 - warmup)


def wsd_lr(progress: float, lr: float, min_lr: float, warmup: float, decay_fraction: float) -> float:
    """Warmup-stable-decay (MiniCPM, 2024): warm up, hold ``lr``, then decay linearly to ``min_lr`` over the
    last ``decay_fraction`` of training.

    The long flat stretch means a checkpoint taken there can be continued with more data (the decay only
    starts near the end), and a short decay from any such checkpoint gives a finished model: one run
    answers "how good at N tokens?" for several N, which cosine (tied to one planned length) cannot.
    """
    if progress < warmup:
        return lr * (progress / warmup if warmup > 0 else 1.0)
    decay_start = 1.0 - decay_fraction
    if progress < decay_start:
        return lr
    frac = min(1.0, (progress - decay_start) / max(1e-12, decay_fraction))
    return lr + (min_lr - lr) * frac


def scheduled_lr(kind: str, progress: float, lr: float, min_lr: float, warmup: float,
                 decay_fraction: float = 0.2) -> float:
    """The learning rate of schedule ``kind`` (:data:`LR_SCHEDULES`) at ``progress`` in [0, 1]."""
    if kind == "cosine":
        return cosine_lr(progress, lr, min_lr, warmup)
    if kind == "linear":
        return linear_lr(progress, lr, min_lr, warmup)
    if kind == "wsd":
        return wsd_lr(progress, lr, min_lr, warmup, decay_fraction)
    raise ConfigError(f"lr schedule must be one of {', '.join(LR_SCHEDULES)}; got {kind!r}")
