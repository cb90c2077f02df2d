"""Reward modelling: a scalar score per answer, trained on preference pairs (Ouyang et al., 2022).

A reward model maps a prompt + answer to one number r. Given a preferred answer y_w and a dispreferred
y_l to the same prompt, the Bradley-Terry model says P(y_w beats y_l) = sigmoid(r(y_w) - r(y_l)), so the
loss is its negative log-likelihood (what trl's ``RewardTrainer`` minimises)::

    loss = -log sigmoid(r(y_w) - r(y_l) - margin)  +  c * mean((r(y_w) + r(y_l))^2)

The optional ``margin`` (per pair) asks for a wider gap on pairs known to differ more; the centering term
(trl's ``center_rewards_coefficient`` c, off by default) pins the mean reward near 0, since the loss itself only
sees differences and leaves the offset free. Unlike DPO's implicit reward, r here is an explicit model that
can score any answer, e.g. new samples of a policy being trained online (PPO, GRPO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.objectives.dpo import PairwiseRewards


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor, margin: torch.Tensor | None = None,
                       center_coefficient: float | None = None) -> torch.Tensor:
    """Mean pairwise loss over rewards (B,) of the chosen and rejected answers."""
    gap = r_chosen - r_rejected - (margin if margin is not None else 0.0)
    loss = -F.logsigmoid(gap).mean()
    if center_coefficient is not None:
        loss = loss + center_coefficient * ((r_chosen + r_rejected) ** 2).mean()
    return loss


class RewardBatch(NamedTuple):
    """Chosen rows first, then rejected rows: ``ids`` (2B, T) right-padded, ``mask`` (2B, T) 1 on real tokens."""

    ids: torch.Tensor
    mask: torch.Tensor


@dataclass
class RewardObjective(PairwiseRewards):
    """``loss_fn(model, batch)`` for the one Trainer: ``model(ids, mask)`` -> (2B, 1) scores (a reward head)."""

    center_coefficient: float | None = None

    def __call__(self, model: nn.Module, batch: RewardBatch) -> torch.Tensor:
        scores = model(batch.ids, batch.mask).squeeze(-1).float()  # (2B,)
        r_chosen, r_rejected = scores.chunk(2)
        self.record(model, r_chosen, r_rejected)
        return bradley_terry_loss(r_chosen, r_rejected, center_coefficient=self.center_coefficient)
