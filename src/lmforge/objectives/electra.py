"""ELECTRA's objective: replaced-token detection with a small generator and a discriminator.

Masked LM learns from only the ~15% masked positions. ELECTRA learns from all
of them:

1. a small **generator** (a BERT with an MLM head) fills the masked positions
   with tokens it samples from its own predictions;
2. the **discriminator** (the model you keep) sees the result and predicts, at
   *every* position, whether the token is original or replaced.

A sampled token that happens to equal the original counts as original. The
loss is ``generator MLM loss + disc_weight * discriminator BCE`` (the paper
uses 50); the sampling is not differentiated through, so the generator is
trained by its MLM loss alone.

The pair itself (two BERTs sharing their embeddings) is the model
:class:`lmforge.models.electra.Electra`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lmforge.models.electra import Electra
from lmforge.objectives.masking import IGNORE
from lmforge.objectives.mlm import masked_lm_loss


def electra_loss(model: Electra, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """``batch`` = (masked inputs, MLM labels), both (B, T), as made by :func:`~lmforge.objectives.masking.mlm_mask`."""
    inputs, labels = batch
    masked = labels != IGNORE
    gen_logits = model.generator.mlm_logits(model.generator(inputs))  # (B, T, V)
    gen_loss = masked_lm_loss(gen_logits, labels)
    with torch.no_grad():  # sample replacements from the generator; no gradient flows through sampling
        probs = torch.softmax(gen_logits[masked].float(), dim=-1)  # (N, V)
        corrupted = inputs.clone()
        corrupted[masked] = torch.multinomial(probs, 1).squeeze(-1)
        original = torch.where(masked, labels, inputs)
        replaced = (corrupted != original).float()  # (B, T): 1 where the token differs from the original
    disc_loss = F.binary_cross_entropy_with_logits(model(corrupted).float(), replaced)
    return gen_loss + model.config.disc_weight * disc_loss
