"""Group Relative Policy Optimization (GRPO; Shao et al., 2024, DeepSeekMath), as trl's ``GRPOTrainer`` computes it.

For each prompt the policy samples a *group* of G completions; a reward function scores each one. The
group itself is the baseline, so no value model is needed::

    A_i = (r_i - mean(r_group)) / (std(r_group) + 1e-4)          group-normalized advantage (scale_rewards="group")

(std with Bessel's correction, as trl; ``scale_rewards="batch"`` divides by the std over the whole batch instead,
``"none"`` not at all.) Every completion token t then gets the PPO-style clipped objective, with the
probability ratio against the policy that sampled it (pi_old) and a KL penalty against the frozen
reference model (pi_ref)::

    ratio_t = pi(y_t) / pi_old(y_t)
    l_t     = -min(ratio_t * A, clip(ratio_t, 1 - eps_low, 1 + eps_high) * A) + beta * KL_t
    KL_t    = pi_ref(y_t) / pi(y_t) - log(pi_ref(y_t) / pi(y_t)) - 1          (Schulman's k3 estimator, >= 0)

The tokens were sampled from pi_old, not pi, so by default the KL term is weighted by ratio_t (trl's
``use_bias_correction_kl=True``, DeepSeek-V3.2): its gradient is then the unbiased reverse-KL gradient, even
on-policy, where the ratio's value is 1 but its gradient is not 0.

Probabilities come from logits divided by the sampling temperature (as trl's). The per-token losses are
averaged over completion tokens in one of trl's ways (``loss_type``):

- ``"grpo"``: mean over each completion's tokens, then over completions (short completions weigh more per token);
- ``"bnpo"``: mean over all completion tokens of the batch (trl's ``"dapo"`` for one process and one micro-batch);
- ``"dr_grpo"``: sum over all completion tokens / (completions x max_completion_length).

With one gradient step per batch of samples (``iterations=1``) pi_old = pi, the ratio is 1 and the clip is inert;
reusing the samples for more steps is what the clip is for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
from torch import nn

from lmforge.errors import ConfigError

LossType = Literal["grpo", "bnpo", "dr_grpo"]
RewardScaling = Literal["group", "batch", "none"]


def gather_logps(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log-softmax(logits / temperature) at the targets: (B, T, V), (B, T) -> (B, T)."""
    logps = torch.log_softmax(logits.float() / temperature, dim=-1)
    return logps.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def token_logps(model: nn.Module, ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log pi(ids[:, t+1] | ids[:, :t+1]) for every position: ids (B, T) -> (B, T-1), logits divided by temperature."""
    return gather_logps(model(ids[:, :-1]), ids[:, 1:], temperature)


def group_advantages(rewards: torch.Tensor, group_size: int, scale: RewardScaling = "group") -> torch.Tensor:
    """Rewards (N,), consecutive groups of ``group_size`` completions of one prompt -> advantages (N,)."""
    grouped = rewards.view(-1, group_size)  # (N / G, G)
    advantages = rewards - grouped.mean(dim=1).repeat_interleave(group_size)
    if scale == "group":
        return advantages / (grouped.std(dim=1).repeat_interleave(group_size) + 1e-4)
    if scale == "batch":
        return advantages / (rewards.std() + 1e-4)
    return advantages


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: LossType,
              max_completion_length: int) -> torch.Tensor:
    """Per-token losses (B, T) -> one number, the way ``loss_type`` weighs tokens (see the module docstring)."""
    if loss_type == "grpo":
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type == "bnpo":
        return masked_mean(per_token, mask)
    if max_completion_length < 1:
        raise ConfigError(f"loss_type 'dr_grpo' divides by max_completion_length; got {max_completion_length}")
    return (per_token * mask).sum() / (per_token.shape[0] * max_completion_length)


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) estimate from sampled tokens' log-probs: exp(d) - d - 1 >= 0, d = ref - logps."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


class PolicyStats(NamedTuple):
    kl: float  # mean per-token KL estimate to the reference
    clip_fraction: float  # fraction of completion tokens whose ratio was clipped (the clip bound the objective)


def clipped_surrogate(logps: torch.Tensor, old_logps: torch.Tensor, advantages: torch.Tensor, eps_low: float,
                      eps_high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """-min(ratio A, clip(ratio) A) per token (B, T), and where the clipped side was taken. advantages broadcast."""
    ratio = torch.exp(logps - old_logps)
    unclipped, clipped = ratio * advantages, torch.clamp(ratio, 1 - eps_low, 1 + eps_high) * advantages
    return -torch.min(unclipped, clipped), (clipped < unclipped)


def grpo_loss(logps: torch.Tensor, old_logps: torch.Tensor, ref_logps: torch.Tensor | None, advantages: torch.Tensor,
              mask: torch.Tensor, beta: float = 0.0, eps_low: float = 0.2, eps_high: float = 0.2,
              loss_type: LossType = "bnpo", max_completion_length: int = 0,
              kl_ratio_correction: bool = True) -> tuple[torch.Tensor, PolicyStats]:
    """The GRPO loss. logps, old_logps, ref_logps, mask: (B, T) over completion positions; advantages (B,)."""
    per_token, clipped = clipped_surrogate(logps, old_logps, advantages.unsqueeze(1), eps_low, eps_high)
    kl = torch.zeros_like(logps)
    if beta != 0.0:
        kl = k3_kl(logps, ref_logps)
        if kl_ratio_correction:
            kl = kl * torch.exp(logps - old_logps)
        per_token = per_token + beta * kl
    loss = aggregate(per_token, mask, loss_type, max_completion_length)
    return loss, PolicyStats(masked_mean(kl.detach(), mask).item(), masked_mean(clipped.float(), mask).item())


class RolloutBatch(NamedTuple):
    """Sampled completions after their prompts, scored: everything the policy-gradient losses need.

    ``ids`` (B, T): prompt + completion, right-padded; ``mask`` (B, T-1): 1 where ids[:, 1:] is a completion token;
    ``old_logps`` / ``ref_logps`` (B, T-1): the sampling policy's and the reference's token log-probabilities;
    ``advantages`` (B,) for GRPO or (B, T-1) for PPO; ``returns`` and ``old_values`` (B, T-1): PPO's value targets
    and the value head's estimates at sampling time (empty for GRPO); ``rewards`` (B,): the scores.
    """

    ids: torch.Tensor
    mask: torch.Tensor
    old_logps: torch.Tensor
    ref_logps: torch.Tensor
    advantages: torch.Tensor
    rewards: torch.Tensor
    returns: torch.Tensor = torch.empty(0)
    old_values: torch.Tensor = torch.empty(0)


@dataclass
class GRPOObjective:
    """``loss_fn(model, batch)`` for the one Trainer; keeps each training step's KL and clip fraction in ``history``.

    In eval mode (the Trainer's ``evaluate``) it returns the mean per-token KL to the reference on the batch's
    completions instead: an RL run's ``val_loss`` says how far the policy has moved (see :mod:`lmforge.tasks.rl`).
    """

    beta: float = 0.0
    eps_low: float = 0.2
    eps_high: float = 0.2
    loss_type: LossType = "bnpo"
    max_completion_length: int = 0
    temperature: float = 1.0
    kl_ratio_correction: bool = True
    history: list[PolicyStats] = field(default_factory=list)

    def __call__(self, model: nn.Module, batch: RolloutBatch) -> torch.Tensor:
        logps = token_logps(model, batch.ids, self.temperature)
        if not model.training:
            return masked_mean(k3_kl(logps, batch.ref_logps), batch.mask)
        loss, stats = grpo_loss(logps, batch.old_logps, batch.ref_logps, batch.advantages, batch.mask, self.beta,
                                self.eps_low, self.eps_high, self.loss_type, self.max_completion_length,
                                self.kl_ratio_correction)
        self.history.append(stats)
        return loss
