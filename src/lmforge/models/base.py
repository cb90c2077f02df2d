"""What every lmforge model family shares: weight init, config checks, parameter
counting, and an explicit statement of what the model can do.

``capabilities`` is how the rest of lmforge decides what to do with a model directory
(sample, chat, serve completions or embeddings, translate) instead of guessing from
attribute names: a T5 has a KV cache too, but it is not a decoder-only LM. Each
capability comes with the methods it promises:

- ``GENERATE`` (decoder-only LM; :class:`CausalLM`, :class:`StreamingLM`): ``forward(ids, cache)``
  -> next-token logits (B, T, V), ``new_cache(batch_size)`` and ``context_length``, which is
  what :class:`~lmforge.infer.engine.GenerationEngine` drives.
- ``SEQ2SEQ`` (encoder–decoder; RNN seq2seq, T5): the :class:`EncoderDecoder` methods, which
  :mod:`lmforge.infer.seq2seq` drives (encode the source once, then step the decoder).
- ``EMBED``: ``embed(ids, attention_mask)`` -> one vector per text (B, C).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lmforge.errors import ConfigError
from lmforge.models.blocks.kv_cache import KVCache


class Capability(StrEnum):
    """What a model can do; the value is the phrase a refusal prints ("a 't5' model cannot ...")."""

    GENERATE = "generate text as a decoder-only language model"
    SEQ2SEQ = "decode as an encoder-decoder (source in, target out)"
    EMBED = "embed texts"


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


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T, C), (B, T) -> (B, C): average over positions where the mask is 1."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class ModelBase(nn.Module):
    """The base of every family: ``family`` and ``config_class`` for the registry, and what it can do."""

    family: str
    config_class: type
    config: Any  # the family's config dataclass
    capabilities: frozenset[Capability] = frozenset()

    def num_parameters(self) -> int:
        """Unique parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())

    # Families whose forward runs a stack of blocks and routes each call through :meth:`run_block` set this.
    checkpointable_blocks: bool = False
    grad_checkpointing: bool = False

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        """Activation checkpointing per block: keep only each block's input during the forward pass and
        recompute its insides during backward. Peak activation memory drops from ~n_layers blocks' worth
        to one block's (plus the n_layers inputs), for about one extra forward pass of compute.

        Refused, naming the family, where the model has no block stack to checkpoint.
        """
        if enabled and not self.checkpointable_blocks:
            raise ConfigError(f"a {self.family!r} model cannot checkpoint activations per block "
                              "(--grad-checkpoint: GPT and Llama can)")
        self.grad_checkpointing = enabled

    def run_block(self, block: nn.Module, x: torch.Tensor, cache: Any, *args: Any) -> torch.Tensor:
        """``block(x, cache, *args)``, checkpointed when training with it on (never with a KV cache: decoding
        keeps no activations for a backward pass). ``use_reentrant=False`` is PyTorch's recommended variant:
        it works with inputs that need no grad and restores the RNG, so dropout masks match on recompute."""
        if self.grad_checkpointing and self.training and cache is None and torch.is_grad_enabled():
            return checkpoint(block, x, cache, *args, use_reentrant=False)
        return block(x, cache, *args)

    def require(self, source: object, *any_of: Capability) -> None:
        """Refuse, in one line naming ``source`` (e.g. the model directory), a model that has none of ``any_of``."""
        if self.capabilities.isdisjoint(any_of):
            can = "; ".join(c.value for c in Capability if c in self.capabilities) or "nothing lmforge can run"
            wanted = " or ".join(c.value for c in any_of)
            raise ConfigError(f"{source}: a {self.family!r} model cannot {wanted} (it can: {can})")


class CausalLM(ModelBase):
    """A decoder-only Transformer LM. Subclasses set ``self.config`` (with ``context_length``,
    ``n_layers``), ``self.tok_emb`` and ``self.lm_head``, and implement ``kv_shape`` and ``hidden``.

    It can also embed: the mean of the states its LM head reads. It was not trained for this,
    so the vectors suit plumbing and rough similarity only.
    """

    capabilities = frozenset({Capability.GENERATE, Capability.EMBED})

    @property
    def context_length(self) -> int:
        return self.config.context_length

    def kv_shape(self) -> tuple[int, int]:
        """(key/value heads, head width) of every layer's cache."""
        raise NotImplementedError

    def hidden(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (B, T) -> the final hidden states (B, T, C) that ``lm_head`` turns into logits."""
        raise NotImplementedError

    def new_cache(self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None) -> KVCache:
        weight = next(self.parameters())  # dtype and device only (a quantized embedding would rebuild its table)
        n_kv_heads, head_dim = self.kv_shape()
        return KVCache(self.config.n_layers, batch_size, n_kv_heads, head_dim, max_len or self.context_length,
                       dtype or weight.dtype, weight.device)

    def embed(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and mask (1 = real token) -> (B, C): mean of the final hidden states over real tokens."""
        return mean_pool(self.hidden(ids), attention_mask)


@dataclass
class StreamState:
    """Generation state of a :class:`StreamingLM`: ``memory`` is nothing (bigram), the last k-1
    tokens (MLP) or the hidden state (RNN); ``length`` counts the tokens consumed, which the
    engine compares with the context length as it does for the KV cache."""

    memory: Any = None
    length: int = 0

    def advance(self, memory: Any, n_tokens: int) -> None:
        self.memory = memory
        self.length += n_tokens


class StreamingLM(ModelBase):
    """A language model without attention (bigram, MLP, RNN/LSTM/GRU).

    It plugs into the same generation engine as the GPT: ``forward(ids, cache)`` returns
    next-token logits (B, T, V), and the "cache" is a :class:`StreamState` holding whatever
    the model needs from the past, where the GPT keeps keys and values.
    """

    capabilities = frozenset({Capability.GENERATE})

    @property
    def context_length(self) -> int:
        """Training window; the engine also caps prompts at it and re-reads recent context past it."""
        return self.config.context_length

    def new_cache(self, batch_size: int, max_len: int | None = None, dtype: torch.dtype | None = None) -> StreamState:
        return StreamState()


class EncoderDecoder(Protocol):
    """What :mod:`lmforge.infer.seq2seq` needs from a ``SEQ2SEQ`` model, on token ids only.

    ``memory`` is whatever the decoder reads from the source (computed once per batch) and
    ``state`` what it carries from step to step (an RNN state, a KV cache); both are opaque
    to the decoding loops.
    """

    decoder_start_id: int  # the decoder's first input (<s>, or T5's pad token)

    def start_decoding(self, src: torch.Tensor, src_lens: torch.Tensor | None, max_steps: int) -> tuple[Any, Any]:
        """Source ids (B, S) with their lengths (None: no padding) -> (memory, initial decoder state)
        for up to ``max_steps`` decoder steps."""
        ...

    def decode_step(self, words: torch.Tensor, state: Any,
                    memory: Any) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
        """Previous words (N,) -> log-probabilities of the next (N, V) in float32, the new state and the
        attention over the source (N, S) (None where the model has none to show)."""
        ...

    def select_rows(self, state: Any, rows: torch.Tensor) -> Any:
        """The state of the hypotheses ``rows`` (beam search keeps, drops and duplicates rows)."""
        ...

    def repeat_memory(self, memory: Any, n: int) -> Any:
        """One sentence's memory (batch 1) read by ``n`` hypotheses at once."""
        ...

    def eval(self) -> Any:
        """Dropout off: decoding is deterministic (every model is an ``nn.Module``)."""
        ...
