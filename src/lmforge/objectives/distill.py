"""Logit distillation (Hinton et al., 2015): a small student learns from a larger teacher's soft targets.

A trained teacher's next-token distribution says more than the one right answer: which other tokens
were plausible and by how much. The student is trained on a mix of matching that distribution and
the ordinary cross-entropy against the text::

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, targets)

averaged over tokens. The temperature T > 1 softens both distributions so the small probabilities
(the "dark knowledge") carry weight; the T^2 factor keeps the KL term's gradients on the scale of
the cross-entropy's as T changes. The teacher is frozen (no gradients, eval mode); teacher and
student must share the tokenizer (the same vocabulary, id for id).

:func:`distillation_loss` returns a ``loss_fn(model, batch)`` for the one Trainer, like
:func:`~lmforge.objectives.clm.causal_lm_loss`, on the same (inputs, targets) batches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError


def distillation_terms(student_logits: torch.Tensor, teacher_logits: torch.Tensor, targets: torch.Tensor,
                       temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(T^2-scaled KL per token, cross-entropy per token), both means over the (B, T) positions.
    Logits (B, T, V), targets (B, T)."""
    if student_logits.shape != teacher_logits.shape:
        raise ConfigError(f"teacher and student disagree on the logits' shape: teacher "
                          f"{tuple(teacher_logits.shape)}, student {tuple(student_logits.shape)} (same vocabulary?)")
    s = F.log_softmax(student_logits.float() / temperature, dim=-1).flatten(0, 1)  # (B*T, V)
    t = F.log_softmax(teacher_logits.float() / temperature, dim=-1).flatten(0, 1)
    kl = F.kl_div(s, t, log_target=True, reduction="batchmean") * temperature**2  # sum over V, mean over tokens
    ce = F.cross_entropy(student_logits.flatten(0, 1).float(), targets.flatten())
    return kl, ce


def distillation_loss(teacher: nn.Module, temperature: float = 2.0,
                      alpha: float = 0.5) -> Callable[[nn.Module, tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """A Trainer ``loss_fn``: ``alpha`` * distillation from ``teacher`` + (1 - ``alpha``) * cross-entropy."""
    if temperature <= 0 or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"need temperature > 0 and 0 <= alpha <= 1, got {temperature} and {alpha}")
    teacher.eval().requires_grad_(False)

    def loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        inputs, targets = batch
        with torch.no_grad():
            teacher_logits = teacher(inputs)  # (B, T, V)
        kl, ce = distillation_terms(model(inputs), teacher_logits, targets, temperature)
        return alpha * kl + (1 - alpha) * ce

    return loss
