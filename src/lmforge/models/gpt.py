"""GPT (GPT-2 architecture): token + learned position embeddings, a stack of
pre-norm blocks, a final LayerNorm and a language-model head tied to the token
embedding. Exports to / imports from Hugging Face ``GPT2LMHeadModel``.

``position`` swaps the learned table for fixed sinusoids or for ALiBi (no
embedding at all; a distance penalty on the attention scores), to compare
position schemes with everything else equal.

``segment_length`` (with ALiBi) reads each window in segments with a
Transformer-XL memory of the previous ``memory`` positions (``SegmentMemory``).

``parallel_block`` is GPT-J's (and PaLM's) block: attention and MLP both read the
same normalized input and are added to the residual together, x + attn(norm x) +
mlp(norm x), so the two can run side by side; it has one norm per block. HF GPT-2
cannot hold it, so such a model does not export.

Options measured by the CPU speedrun (docs/speedrun.md), each off by default so the
model stays GPT-2: ``position="rope"`` (rotary q/k instead of a table), ``qk_norm``,
``activation="relu2"``, ``init_std`` and ``zero_init_outputs``. Only the init options
leave a model HF GPT-2 can hold."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import CausalLM, check_dropout, check_positive, init_normal
from lmforge.models.blocks.attention import AttentionImpl, SelfAttention
from lmforge.models.blocks.kv_cache import KVCache, SegmentMemory
from lmforge.models.blocks.mlp import MLP, Activation
from lmforge.models.blocks.positions import LearnedPositions, RotaryEmbedding, SinusoidalPositions, alibi_bias
from lmforge.models.blocks.transformer_block import TransformerBlock

FAMILY = "gpt"


@dataclass
class GPTConfig:
    vocab_size: int = 50257
    context_length: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_mlp: int | None = None  # default 4 * d_model
    dropout: float = 0.0
    bias: bool = True
    tie_embeddings: bool = True
    layer_norm_eps: float = 1e-5
    activation: Activation = "gelu_tanh"
    attention_impl: AttentionImpl = "sdpa"
    # rope: rotate q and k by their positions (Llama's RoPE); no table, and attention sees distances only
    position: Literal["learned", "sinusoidal", "alibi", "rope"] = "learned"
    # Transformer-XL recurrence: a window longer than segment_length is read a segment at a time, each
    # attending to its own tokens and the detached keys/values of the previous `memory` positions
    # (default: one segment). Needs position="alibi"; generation with a KV cache is unchanged.
    segment_length: int | None = None
    memory: int | None = None
    parallel_block: bool = False  # GPT-J/PaLM: x + attn(norm(x)) + mlp(norm(x))
    # RMS-normalize each head's q and k before the dot product: bounded attention logits tolerate a higher lr
    qk_norm: bool = False
    init_std: float = 0.02  # std of the normal init of every matrix and embedding (GPT-2's 0.02)
    # start every block's output projections (attention's proj, the MLP's down) and an untied LM head at 0
    # (modded-nanogpt): each block starts as the identity and the first logits are uniform, so early steps
    # build on a clean residual stream instead of undoing random writes to it
    zero_init_outputs: bool = False

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "n_layers", "n_heads", "init_std")
        if self.d_model % self.n_heads:
            raise ConfigError(f"GPTConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.position == "rope" and (self.d_model // self.n_heads) % 2:
            raise ConfigError(f"GPTConfig: position='rope' rotates channel pairs, so the head width "
                              f"d_model / n_heads = {self.d_model // self.n_heads} must be even")
        check_dropout(self)
        if self.memory is not None and self.segment_length is None:
            raise ConfigError("GPTConfig: memory is carried from segment to segment; it needs segment_length")
        if self.segment_length is not None:
            check_positive(self, "segment_length", *(["memory"] if self.memory is not None else []))
            if self.position != "alibi":
                raise ConfigError(f"GPTConfig: segment recurrence needs position='alibi' (relative positions), "
                                  f"not {self.position!r}: remembered keys have no absolute position to reuse")

    @property
    def mlp_width(self) -> int:
        return self.d_mlp or 4 * self.d_model


class GPT(CausalLM):
    family = FAMILY
    config_class = GPTConfig
    checkpointable_blocks = True

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb: nn.Module | None = None  # ALiBi and RoPE add nothing to the embeddings
        rope = RotaryEmbedding(c.d_model // c.n_heads) if c.position == "rope" else None  # shared by all layers
        if c.position == "learned":
            self.pos_emb = LearnedPositions(c.context_length, c.d_model)
        elif c.position == "sinusoidal":
            self.pos_emb = SinusoidalPositions(c.context_length, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                attn=SelfAttention(c.d_model, c.n_heads, bias=c.bias, dropout=c.dropout, impl=c.attention_impl,
                                   rope=rope, qk_norm=c.qk_norm),
                mlp=MLP(c.d_model, c.mlp_width, c.activation, bias=c.bias, dropout=c.dropout),
                norm1=nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias),
                norm2=None if c.parallel_block else nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias),
                parallel=c.parallel_block,
            )
            for _ in range(c.n_layers)
        )
        self.norm = nn.LayerNorm(c.d_model, eps=c.layer_norm_eps, bias=c.bias)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            # the same matrix maps ids -> vectors and vectors -> logits: fewer
            # parameters, and rare tokens' output rows get the input's gradient too
            self.lm_head.weight = self.tok_emb.weight
        self.apply(lambda m: init_normal(m, c.init_std))
        # GPT-2: scale the projections that write into the residual stream by
        # 1/sqrt(2 * n_layers), so the sum of 2*n_layers additions keeps unit variance
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.down.weight")):
                std = 0.0 if c.zero_init_outputs else c.init_std / math.sqrt(2 * c.n_layers)
                nn.init.normal_(p, mean=0.0, std=std)
        if c.zero_init_outputs and not c.tie_embeddings:  # a tied head is the embedding, which must not be 0
            nn.init.zeros_(self.lm_head.weight)

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Unique parameters (tied weights counted once); ``non_embedding`` drops
        the position table, the convention of the GPT-2 and nanoGPT papers."""
        n = sum(p.numel() for p in self.parameters())
        learned = isinstance(self.pos_emb, LearnedPositions)
        return n - self.pos_emb.table.weight.numel() if non_embedding and learned else n

    def kv_shape(self) -> tuple[int, int]:
        return self.config.n_heads, self.config.d_model // self.config.n_heads

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, vocab_size)."""
        return self.lm_head(self.hidden(idx, cache))

    def hidden(self, idx: torch.Tensor, cache: KVCache | SegmentMemory | None = None) -> torch.Tensor:
        """Token ids (B, T) -> the final hidden states (B, T, C) that ``lm_head`` turns into logits."""
        segment = self.config.segment_length
        if cache is None and segment is not None and idx.shape[1] > segment:
            memory = SegmentMemory(self.config.memory or segment)
            return torch.cat([self.hidden(part, memory) for part in idx.split(segment, dim=1)], dim=1)
        start = cache.length if cache is not None else 0
        T = idx.shape[1]
        x = self.tok_emb(idx)  # (B, T, C)
        bias = None
        if self.pos_emb is not None:
            x = x + self.pos_emb(start, T)
        elif self.config.position == "alibi":  # positions enter as a penalty on the attention scores
            per_row = isinstance(start, torch.Tensor)  # rows of different lengths (kv_cache.SlotRows)
            t_key = (int(start.max()) if per_row else start) + T
            bias = alibi_bias(self.config.n_heads, T, t_key, idx.device, start if per_row else None).to(x.dtype)
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = self.run_block(block, x, cache, i, bias)
        if cache is not None:
            cache.advance(idx.shape[1])
        return self.norm(x)
