"""The ELECTRA pretraining pair: a small generator and a discriminator, two BERTs in one model.

The generator is a BERT with the MLM head alone; the discriminator (the model
ELECTRA keeps) is a BERT with ``replaced_token_head``, which predicts at every
position whether the token is original or replaced. The two share their
embeddings, as in the paper. How they are trained together is the objective's
business (:mod:`lmforge.objectives.electra`); this module only builds the pair.

Saved alone, the discriminator is a plain ``bert`` model directory that
round-trips with HF ``ElectraForPreTraining`` (:mod:`lmforge.interop.hf_electra`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import ModelBase
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.config import config_from_dict

FAMILY = "electra"


@dataclass
class ElectraConfig:
    """Two BERT configs (``config.json``-style dicts without "family"): the discriminator and a
    smaller generator with the same vocabulary, context and embedding width."""

    discriminator: dict[str, Any] = field(default_factory=dict)
    generator: dict[str, Any] = field(default_factory=dict)
    disc_weight: float = 50.0  # the loss's weight on the discriminator BCE (the paper's lambda)

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
