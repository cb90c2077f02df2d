"""Causal language modelling: predict token t+1 from tokens 0..t."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def causal_lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy (nats/token) of ``model(inputs)`` against ``targets``, both (B, T)."""
    inputs, targets = batch
    logits = model(inputs)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
