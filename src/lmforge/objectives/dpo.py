"""Direct Preference Optimization (Rafailov et al., 2023).

Given a prompt x with a preferred answer y_w ("chosen") and a dispreferred one y_l ("rejected"),
DPO trains the policy pi directly, without a reward model, against a frozen reference pi_ref
(the model before DPO)::

    r(y)  = beta * (log pi(y | x) - log pi_ref(y | x))          implicit reward of an answer
    loss  = -log sigmoid(r(y_w) - r(y_l))                        (Bradley-Terry likelihood of the preference)

log pi(y | x) is the sum of the answer tokens' log-probabilities (prompt tokens excluded). beta sets
how far the policy may move from the reference: small beta = weak KL pull. With label smoothing
eps (conservative DPO) the preference label is trusted with probability 1 - eps::

    loss = -(1 - eps) log sigmoid(z) - eps log sigmoid(-z),      z = r(y_w) - r(y_l)

*Preference accuracy* is the fraction of pairs with r(y_w) > r(y_l).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def sequence_logps(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum of log p(target_t) over positions where ``mask`` is 1. logits (B, T, V); targets, mask (B, T) -> (B,)."""
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    return (logp * mask).sum(dim=-1)


def dpo_loss(policy_chosen: torch.Tensor, policy_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1,
             label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean DPO loss over the batch, and the chosen / rejected rewards (B,) (detached).

    All four inputs are sequence log-probabilities (B,) of the answers under the policy / the reference.
    """
    chosen_logratio = policy_chosen - ref_chosen  # (B,)
    rejected_logratio = policy_rejected - ref_rejected
    z = beta * (chosen_logratio - rejected_logratio)
    losses = -(1 - label_smoothing) * F.logsigmoid(z) - label_smoothing * F.logsigmoid(-z)
    return losses.mean(), beta * chosen_logratio.detach(), beta * rejected_logratio.detach()


class DPOBatch(NamedTuple):
    """Chosen and rejected sequences stacked as one batch (chosen first), so one forward scores both.

    ``ids`` (2B, T): prompt + answer, right-padded; ``mask`` (2B, T - 1): 1 where ids[:, 1:] is an answer
    token; ``ref_logps`` (2B,): the frozen reference model's answer log-probabilities, computed once.
    """

    ids: torch.Tensor
    mask: torch.Tensor
    ref_logps: torch.Tensor


def answer_logps(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Answer log-probabilities (2B,) of ``model`` for a :class:`DPOBatch`'s ids and mask."""
    logits = model(ids[:, :-1])  # (2B, T-1, V): the prediction for every next token
    return sequence_logps(logits, ids[:, 1:], mask)


class PreferenceStats(NamedTuple):
    """Preference accuracy and mean rewards over some pairs (trl's rewards/accuracies, margins, chosen, rejected)."""

    accuracy: float
    margin: float  # mean r(y_w) - r(y_l)
    chosen: float  # mean r(y_w)
    rejected: float  # mean r(y_l)


def preference_stats(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> PreferenceStats:
    """Statistics of chosen / rejected rewards (N,). A tie (margin exactly 0, as before any training) is no win."""
    return PreferenceStats((r_chosen > r_rejected).float().mean().item(), (r_chosen - r_rejected).mean().item(),
                           r_chosen.mean().item(), r_rejected.mean().item())


@dataclass
class PairwiseRewards:
    """Keeps the chosen / rejected rewards an objective computes, so training curves can show the preference
    accuracy rising without a second forward pass (shared by DPO's implicit rewards and a reward model's scores).

    In training mode each batch's :class:`PreferenceStats` is appended to ``history``. In eval mode (the Trainer's
    ``evaluate``) the rewards are collected in ``eval_rewards`` until :meth:`held_out_stats` summarises them.
    """

    # keyword-only, so subclasses' own settings come first positionally
    history: list[PreferenceStats] = field(default_factory=list, kw_only=True)
    eval_rewards: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list, repr=False, kw_only=True)

    def record(self, model: nn.Module, r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> None:
        r_chosen, r_rejected = r_chosen.detach().float(), r_rejected.detach().float()
        if model.training:
            self.history.append(preference_stats(r_chosen, r_rejected))
        else:
            self.eval_rewards.append((r_chosen, r_rejected))

    def held_out_stats(self) -> PreferenceStats:
        """Statistics over every pair scored in eval mode since the last call (then forgets them)."""
        r_chosen, r_rejected = (torch.cat(r) for r in zip(*self.eval_rewards, strict=True))
        self.eval_rewards.clear()
        return preference_stats(r_chosen, r_rejected)


@dataclass
class DPOObjective(PairwiseRewards):
    """``loss_fn(model, batch)`` for the one Trainer; the implicit rewards are kept (see :class:`PairwiseRewards`)."""

    beta: float = 0.1
    label_smoothing: float = 0.0

    def __call__(self, model: nn.Module, batch: DPOBatch) -> torch.Tensor:
        logps = answer_logps(model, batch.ids, batch.mask)
        chosen, rejected = logps.chunk(2)
        ref_chosen, ref_rejected = batch.ref_logps.chunk(2)
        loss, r_chosen, r_rejected = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, self.beta,
                                              self.label_smoothing)
        self.record(model, r_chosen, r_rejected)
        return loss
