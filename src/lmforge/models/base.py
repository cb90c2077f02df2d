"""What every lmforge model family shares: weight init, parameter counting and,
for causal LMs, the interface the generation engine uses (``forward(ids, cache)``,
``new_cache``, ``context_length``)."""

from __future__ import annotations

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.blocks.kv_cache import KVCache


def init_normal(module: nn.Module, std: float = 0.02) -> None:
    """GPT-2/BERT/Llama init: N(0, std) for linear and embedding weights, zero biases (use with ``.apply``)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, mean=0.0, std=std)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def check_positive(config: object, *names: str) -> None:
    for name in names:
        if getattr(config, name) <= 0:
            raise ConfigError(f"{type(config).__name__}.{name} must be positive, got {getattr(config, name)}")


def check_dropout(config: object) -> None:
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"{type(config).__name__}.dropout must be in [0, 1), got {config.dropout}")


class ModelBase(nn.Module):
    family: str
    config_class: type

    def num_parameters(self) -> int:
        """Unique parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())


class CausalLM(ModelBase):
    """A decoder-only LM. Subclasses set ``self.config`` (with ``context_length``,
    ``n_layers``) and ``self.tok_emb``, and implement ``kv_shape``."""

    @property
    def context_length(self) -> int:
        return self.config.context_length

    def kv_shape(self) -> tuple[int, int]:
        """(key/value heads, head width) of every layer's cache."""
        raise NotImplementedError

    def new_cache(self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None) -> KVCache:
        weight = self.tok_emb.weight
        n_kv_heads, head_dim = self.kv_shape()
        return KVCache(self.config.n_layers, batch_size, n_kv_heads, head_dim, max_len or self.context_length,
                       dtype or weight.dtype, weight.device)
