"""PPO for language models (Schulman et al., 2017; Ziegler et al., 2019; Ouyang et al., 2022).

Unlike GRPO, PPO judges every token with a learned *value head* V (a linear layer on the policy's hidden
states) instead of comparing a group of samples. Each completion token t is one step of an episode whose
reward is the KL penalty to the reference, plus the task's score on the last token::

    r_t   = -kl_coef * (log pi_old(y_t) - log pi_ref(y_t))   (+ score on the last completion token)
    delta = r_t + gamma * V_{t+1} - V_t                      (V after the last token = 0)
    A_t   = delta_t + gamma * lam * A_{t+1}                  generalized advantage estimation (GAE)
    R_t   = A_t + V_t                                        the value head's target

The advantages are whitened over the batch's completion tokens, then::

    policy loss = mean_t -min(ratio_t A_t, clip(ratio_t, 1 - eps, 1 + eps) A_t)      ratio_t = pi / pi_old
    value loss  = mean_t 0.5 * max((V_t - R_t)^2, (clip(V_t, V_old - eps_v, V_old + eps_v) - R_t)^2)
    loss        = policy loss + vf_coef * value loss

(means over completion tokens; the clipped value loss keeps the value head from jumping, as in trl's
``PPOTrainer``.) Costs against GRPO: one more head to train, but one sample per prompt suffices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from lmforge.objectives.grpo import (
    PolicyStats,
    RolloutBatch,
    clipped_surrogate,
    gather_logps,
    k3_kl,
    masked_mean,
    token_logps,
)


def token_rewards(scores: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor, mask: torch.Tensor,
                  kl_coef: float) -> torch.Tensor:
    """Per-token rewards (B, T): the KL penalty everywhere, the score (B,) added on each row's last masked token."""
    rewards = -kl_coef * (old_logps - ref_logps) * mask
    last = (mask * torch.arange(mask.shape[1], device=mask.device)).argmax(dim=1)  # (B,) index of the last token
    rewards[torch.arange(mask.shape[0]), last] += scores
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0,
        lam: float = 0.95) -> tuple[torch.Tensor, torch.Tensor]:
    """Advantages and returns (B, T) by GAE, right to left over the masked (completion) positions."""
    advantages = torch.zeros_like(rewards)
    next_value = torch.zeros_like(rewards[:, 0])  # (B,), on the rewards' device
    running = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(rewards.shape[1])):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = torch.where(m > 0, delta + gamma * lam * running, running)  # positions outside keep the carry
        advantages[:, t] = running * m
        next_value = torch.where(m > 0, values[:, t], next_value)
    return advantages, (advantages + values) * mask


def whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    return (values - mean) * torch.rsqrt(var + 1e-8) * mask


def ppo_loss(logps: torch.Tensor, values: torch.Tensor, batch: RolloutBatch, eps: float = 0.2, eps_value: float = 0.2,
             vf_coef: float = 0.1) -> tuple[torch.Tensor, PolicyStats]:
    """The PPO loss from the current token log-probs and values (B, T) and a scored rollout (see module docstring)."""
    per_token, clipped = clipped_surrogate(logps, batch.old_logps, batch.advantages, eps, eps)
    policy = masked_mean(per_token, batch.mask)
    clipped_values = batch.old_values + torch.clamp(values - batch.old_values, -eps_value, eps_value)
    value = 0.5 * masked_mean(torch.max((values - batch.returns) ** 2, (clipped_values - batch.returns) ** 2),
                              batch.mask)
    kl = masked_mean(k3_kl(logps.detach(), batch.ref_logps), batch.mask).item()
    return policy + vf_coef * value, PolicyStats(kl, masked_mean(clipped.float(), batch.mask).item())


class ValueHead(nn.Module):
    """One number per position from the policy's hidden states: (B, T, C) -> (B, T). Starts at 0."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.proj = nn.Linear(width, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden.float()).squeeze(-1)


def logps_and_values(model: nn.Module, ids: torch.Tensor,
                     temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward: token log-probs and values (B, T-1) of a causal LM carrying a ``value_head`` attribute."""
    hidden = model.hidden(ids[:, :-1])  # (B, T-1, C)
    return gather_logps(model.lm_head(hidden), ids[:, 1:], temperature), model.value_head(hidden)


@dataclass
class PPOObjective:
    """``loss_fn(model, batch)`` for the one Trainer; ``model`` carries the value head (see :class:`ValueHead`)."""

    eps: float = 0.2
    eps_value: float = 0.2
    vf_coef: float = 0.1
    temperature: float = 1.0
    history: list[PolicyStats] = field(default_factory=list)

    def __call__(self, model: nn.Module, batch: RolloutBatch) -> torch.Tensor:
        if not model.training:  # evaluation: how far the policy has moved (see GRPOObjective)
            return masked_mean(k3_kl(token_logps(model, batch.ids, self.temperature), batch.ref_logps), batch.mask)
        logps, values = logps_and_values(model, batch.ids, self.temperature)
        loss, stats = ppo_loss(logps, values, batch, self.eps, self.eps_value, self.vf_coef)
        self.history.append(stats)
        return loss

