"""ELECTRA: replaced-token detection with a small generator and a discriminator.

Masked LM learns from only the ~15% masked positions. ELECTRA learns from all
of them:

1. a small **generator** (a BERT with an MLM head) fills the masked positions
   with tokens it samples from its own predictions;
2. the **discriminator** (the model you keep) sees the result and predicts, at
   *every* position, whether the token is original or replaced.

A sampled token that happens to equal the original counts as original. The
loss is ``generator MLM loss + disc_weight * discriminator BCE`` (the paper
uses 50); the sampling is not differentiated through, so the generator is
trained by its MLM loss alone. Generator and discriminator share their
embeddings, as in the paper.

The discriminator is a BERT with ``replaced_token_head``: saved alone it is
the model ELECTRA keeps, and it round-trips with HF ``ElectraForPreTraining``
(:mod:`lmforge.interop.hf_electra`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import ModelBase
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.config import config_from_dict
from lmforge.objectives.masking import IGNORE
from lmforge.objectives.mlm import masked_lm_loss

FAMILY = "electra"


@dataclass
class ElectraConfig:
    """Two BERT configs (``config.json``-style dicts without "family"): the discriminator and a
    smaller generator with the same vocabulary, context and embedding width."""

    discriminator: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    disc_weight: float = 50.0

    def bert_configs(self) -> tuple[BertConfig, BertConfig]:
        disc = {**self.discriminator, "pretraining_heads": False, "pooler": False, "replaced_token_head": True}
        gen = {**self.generator, "pretraining_heads": True, "pair_head": False, "pooler": False}  # MLM head only
        disc = config_from_dict(BertConfig, disc, "ElectraConfig.discriminator")
        gen = config_from_dict(BertConfig, gen, "ElectraConfig.generator")
        for name in ("vocab_size", "context_length", "type_vocab_size", "embedding_width"):
            if getattr(gen, name) != getattr(disc, name):
                raise ConfigError(f"ElectraConfig: generator and discriminator must share {name} "
                                  f"(got {getattr(gen, name)} and {getattr(disc, name)})")
        return disc, gen

    def validate(self) -> None:
        self.bert_configs()
        if self.disc_weight <= 0:
            raise ConfigError(f"ElectraConfig.disc_weight must be positive, got {self.disc_weight}")


class Electra(ModelBase):
    family = FAMILY
    config_class = ElectraConfig

    def __init__(self, config: ElectraConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        disc_config, gen_config = config.bert_configs()
        self.discriminator = Bert(disc_config)
        self.generator = Bert(gen_config)
        for name in ("tok_emb", "pos_emb", "type_emb"):  # one set of embeddings for both
            setattr(self.generator, name, getattr(self.discriminator, name))

    @property
    def head(self) -> nn.Module:
        """The replaced-token head; it lives in the discriminator, so a saved discriminator keeps it."""
        return self.discriminator.rtd_head

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Replaced-token logits (B, T): > 0 means "this token was replaced"."""
        return self.discriminator.replaced_logits(self.discriminator(ids, token_type_ids, attention_mask))


def electra_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
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
