"""Causal language modelling: predict token t+1 from tokens 0..t."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.models.base import CausalLM
from lmforge.objectives.linear_ce import linear_cross_entropy


def causal_lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy (nats/token) of ``model(inputs)`` against ``targets``, both (B, T).

    Transformer LMs (:class:`CausalLM`: GPT, Llama, which expose their final hidden states) whose head is a
    plain bias-free ``nn.Linear`` get the chunked output-projection + cross-entropy (``linear_ce.py``: same
    loss and gradients, without the (B, T, V) logits). A LoRA- or NF4-wrapped head, other families, and
    ``torch.compile``d models (a wrapper whose compiler fuses on its own) take the plain path.
    """
    inputs, targets = batch
    if isinstance(model, CausalLM) and type(model.lm_head) is nn.Linear and model.lm_head.bias is None:
        return linear_cross_entropy(model.hidden(inputs), model.lm_head.weight, targets)
    logits = model(inputs)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
