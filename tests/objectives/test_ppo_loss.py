"""PPO's rewards, GAE and clipped objective against a plain, loop-by-loop reference implementation written
from the formulas (Schulman et al. 2017; GAE: Schulman et al. 2016), on ragged completions."""

from __future__ import annotations

import math

import pytest
import torch

from lmforge.objectives.grpo import RolloutBatch
from lmforge.objectives.ppo import gae, ppo_loss, token_rewards, whiten

G = torch.Generator().manual_seed(0)
MASK = torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float)  # (B, T) completions


def _rand(*shape):
    return torch.randn(*shape, generator=G)


def _reference_episode(scores, old, ref, values, mask, kl_coef, gamma, lam):
    """Per row: the completion's steps in order, their rewards, then GAE right to left."""
    advantages, returns = torch.zeros_like(values), torch.zeros_like(values)
    for b in range(mask.shape[0]):
        steps = [t for t in range(mask.shape[1]) if mask[b, t] > 0]
        rewards = [-kl_coef * (old[b, t] - ref[b, t]).item() for t in steps]
        rewards[-1] += scores[b].item()
        running = 0.0
        for i in reversed(range(len(steps))):
            next_value = values[b, steps[i + 1]].item() if i + 1 < len(steps) else 0.0
            delta = rewards[i] + gamma * next_value - values[b, steps[i]].item()
            running = delta + gamma * lam * running
            advantages[b, steps[i]] = running
            returns[b, steps[i]] = running + values[b, steps[i]].item()
    return advantages, returns


def test_rewards_and_gae_match_the_step_by_step_reference():
    scores, old, ref, values = _rand(3), _rand(3, 5), _rand(3, 5), _rand(3, 5)
    advantages, returns = gae(token_rewards(scores, old, ref, MASK, kl_coef=0.1), values, MASK, gamma=0.9, lam=0.8)
    expected_adv, expected_ret = _reference_episode(scores, old, ref, values, MASK, 0.1, 0.9, 0.8)
    assert torch.allclose(advantages, expected_adv, atol=1e-6)
    assert torch.allclose(returns, expected_ret, atol=1e-6)


def test_clipped_objective_matches_the_token_by_token_reference():
    logps, old, ref = _rand(3, 5), _rand(3, 5) * 0.3, _rand(3, 5)
    logps = old + 0.4 * logps  # ratios around 1, several beyond the clip range
    values, old_values, returns = _rand(3, 5), _rand(3, 5), _rand(3, 5)
    advantages = whiten(_rand(3, 5), MASK)
    batch = RolloutBatch(torch.zeros(3, 6, dtype=torch.long), MASK, old, ref, advantages, torch.zeros(3),
                         returns, old_values)
    loss, stats = ppo_loss(logps, values, batch, eps=0.2, eps_value=0.3, vf_coef=0.5)

    policy, value, clipped, n = 0.0, 0.0, 0, 0
    for b in range(3):
        for t in range(5):
            if MASK[b, t] == 0:
                continue
            ratio = math.exp(logps[b, t] - old[b, t])
            a = advantages[b, t].item()
            objective = min(ratio * a, min(max(ratio, 0.8), 1.2) * a)
            clipped += objective != ratio * a
            policy -= objective
            v, v_old, r = values[b, t].item(), old_values[b, t].item(), returns[b, t].item()
            v_clipped = v_old + min(max(v - v_old, -0.3), 0.3)
            value += 0.5 * max((v - r) ** 2, (v_clipped - r) ** 2)
            n += 1
    assert loss.item() == pytest.approx(policy / n + 0.5 * value / n, abs=1e-5)
    assert stats.clip_fraction == pytest.approx(clipped / n) and 0 < clipped < n


def test_whitened_advantages_have_zero_mean_and_unit_variance_on_the_completion():
    w = whiten(_rand(3, 5) * 4 + 2, MASK)
    kept = w[MASK > 0]
    assert kept.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert kept.var(unbiased=False).item() == pytest.approx(1.0, abs=1e-5)
    assert torch.all(w[MASK == 0] == 0)
