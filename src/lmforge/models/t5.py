"""T5: an encoder-decoder Transformer with relative position biases.

The encoder reads the whole input bidirectionally; the decoder generates the
output causally and, in every block, cross-attends to the encoder's output.
Both stacks are pre-norm with RMSNorm, have no biases anywhere, and get their
positions from :class:`RelativePositionBias`: one learned scalar per head and
distance bucket, computed once per stack and added to every layer's scores.
Attention scores are not divided by sqrt(D) (T5 folds that into its init).

``tie_embeddings`` (T5 v1.0): the output matrix is the shared embedding, and
the decoder output is scaled by 1/sqrt(d_model) first. T5 v1.1 unties them
and uses a gated-GELU MLP (``feed_forward="gated-gelu"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from lmforge.models.base import Capability, ModelBase, check_dropout, check_positive
from lmforge.models.blocks.attention import (
    AttentionImpl,
    CrossAttention,
    SelfAttention,
    optional_padding_bias,
    padding_bias,
)
from lmforge.models.blocks.kv_cache import KVCache
from lmforge.models.blocks.mlp import MLP, GatedMLP
from lmforge.models.blocks.norms import RMSNorm
from lmforge.models.blocks.positions import RelativePositionBias
from lmforge.models.blocks.transformer_block import TransformerBlock

FAMILY = "t5"


@dataclass
class T5Config:
    vocab_size: int = 32128
    context_length: int = 512  # T5 has no hard limit; this bounds the decoder's KV cache
    d_model: int = 512
    d_head: int = 64
    d_mlp: int = 2048
    n_layers: int = 6
    n_decoder_layers: int | None = None  # default n_layers
    n_heads: int = 8
    relative_buckets: int = 32
    relative_max_distance: int = 128
    feed_forward: Literal["relu", "gated-gelu"] = "relu"
    norm_eps: float = 1e-6
    dropout: float = 0.1
    tie_embeddings: bool = True
    pad_id: int = 0
    decoder_start_id: int = 0  # the decoder's first input (T5 uses the pad token)
    attention_impl: AttentionImpl = "sdpa"

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "d_head", "d_mlp", "n_layers", "n_heads",
                       "relative_buckets", "relative_max_distance")
        check_dropout(self)

    @property
    def decoder_layers(self) -> int:
        return self.n_decoder_layers or self.n_layers


class T5(ModelBase):
    family = FAMILY
    config_class = T5Config
    capabilities = frozenset({Capability.SEQ2SEQ})

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)  # shared by encoder input, decoder input (and output)
        self.enc_bias = RelativePositionBias(c.n_heads, c.relative_buckets, c.relative_max_distance, True)
        self.dec_bias = RelativePositionBias(c.n_heads, c.relative_buckets, c.relative_max_distance, False)
        self.encoder = nn.ModuleList(self._block(causal=False) for _ in range(c.n_layers))
        self.decoder = nn.ModuleList(self._block(causal=True) for _ in range(c.decoder_layers))
        self.enc_norm, self.dec_norm = RMSNorm(c.d_model, c.norm_eps), RMSNorm(c.d_model, c.norm_eps)
        self.drop = nn.Dropout(c.dropout)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        if c.tie_embeddings:
            self.lm_head.weight = self.tok_emb.weight
        self._init_t5_weights()

    @torch.no_grad()
    def _init_t5_weights(self) -> None:
        """T5's own initialisation of every weight (Mesh TensorFlow's, which HF copies): std = fan_in ** -0.5,
        with two twists.

        Why not GPT's N(0, 0.02) everywhere: T5 does not divide attention scores by sqrt(D), so the query
        projection starts smaller instead (std (d_model * D) ** -0.5), and tied logits are scaled by
        1/sqrt(d_model), so the shared embedding starts at unit scale. With 0.02 everywhere, attention
        starts uniform, logits start ~50x too small, and training from scratch crawls (eng-fra: BLEU 0.2
        after 5 CPU-minutes).
        """
        c, inner = self.config, self.config.n_heads * self.config.d_head
        nn.init.normal_(self.tok_emb.weight, std=1.0)
        if not c.tie_embeddings:
            nn.init.normal_(self.lm_head.weight, std=c.d_model**-0.5)
        for position_bias in (self.enc_bias, self.dec_bias):
            nn.init.normal_(position_bias.table.weight, std=c.d_model**-0.5)
        for block in [*self.encoder, *self.decoder]:
            for attn in (block.attn, block.cross_attn):
                if attn is None:
                    continue
                q, kv = (attn.qkv.weight[:inner], attn.qkv.weight[inner:]) if hasattr(attn, "qkv") \
                    else (attn.q.weight, attn.kv.weight)
                q.normal_(0.0, (c.d_model * c.d_head) ** -0.5)  # (H*D, C) rows of the query heads
                kv.normal_(0.0, c.d_model**-0.5)
                nn.init.normal_(attn.proj.weight, std=inner**-0.5)
            for layer in block.mlp.modules():
                if isinstance(layer, nn.Linear):
                    nn.init.normal_(layer.weight, std=layer.in_features**-0.5)

    def _block(self, causal: bool) -> TransformerBlock:
        c = self.config
        mlp = (GatedMLP(c.d_model, c.d_mlp, "gelu_tanh", dropout=c.dropout) if c.feed_forward == "gated-gelu"
               else MLP(c.d_model, c.d_mlp, "relu", bias=False, dropout=c.dropout))
        attn_args = dict(bias=False, dropout=c.dropout, impl=c.attention_impl, scale=1.0, d_head=c.d_head)
        return TransformerBlock(
            attn=SelfAttention(c.d_model, c.n_heads, causal=causal, **attn_args),
            mlp=mlp,
            norm1=RMSNorm(c.d_model, c.norm_eps),
            norm2=RMSNorm(c.d_model, c.norm_eps),
            cross_attn=CrossAttention(c.d_model, c.n_heads, **attn_args) if causal else None,
            norm_cross=RMSNorm(c.d_model, c.norm_eps) if causal else None,
        )

    def encode(self, ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Input ids (B, S) (+ mask, 1 = real token) -> encoder output (B, S, C)."""
        x = self.drop(self.tok_emb(ids))
        bias = self.enc_bias(ids.shape[1], ids.shape[1]).to(x.dtype)  # (1, H, S, S)
        if attention_mask is not None:
            bias = bias + padding_bias(attention_mask, x.dtype)
        for block in self.encoder:
            x = block(x, bias=bias)
        return self.drop(self.enc_norm(x))

    def decode(self, decoder_ids: torch.Tensor, memory: torch.Tensor, attention_mask: torch.Tensor | None = None,
               cache: KVCache | None = None) -> torch.Tensor:
        """Decoder ids (B, T), encoder output (B, S, C) -> next-token logits (B, T, vocab)."""
        start, T = (cache.length if cache is not None else 0), decoder_ids.shape[1]
        x = self.drop(self.tok_emb(decoder_ids))
        bias = self.dec_bias(T, start + T).to(x.dtype)  # (1, H, T, start+T); causal masking is in attention
        memory_bias = optional_padding_bias(attention_mask, x.dtype)
        for i, block in enumerate(self.decoder):
            x = block(x, cache, i, bias, memory, memory_bias)
        if cache is not None:
            cache.advance(T)
        x = self.drop(self.dec_norm(x))
        if self.config.tie_embeddings:
            x = x * self.config.d_model**-0.5  # keeps tied logits at the embedding's scale
        return self.lm_head(x)

    def forward(self, ids: torch.Tensor, decoder_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher forcing: (B, S) inputs and (B, T) shifted targets -> (B, T, vocab) logits."""
        return self.decode(decoder_ids, self.encode(ids, attention_mask), attention_mask)

    def new_cache(self, batch_size: int, max_len: int | None = None) -> KVCache:
        """Decoder self-attention cache (cross-attention keys are recomputed from ``memory``)."""
        c, weight = self.config, self.tok_emb.weight
        return KVCache(c.decoder_layers, batch_size, c.n_heads, c.d_head, max_len or c.context_length,
                       weight.dtype, weight.device)

    # ------------------------------------------------------------------ EncoderDecoder, for infer.seq2seq
    @property
    def decoder_start_id(self) -> int:
        return self.config.decoder_start_id

    def start_decoding(self, src: torch.Tensor, src_lens: torch.Tensor | None,
                       max_steps: int) -> tuple[tuple[torch.Tensor, torch.Tensor | None], KVCache]:
        """Memory = (encoder output (B, S, C), padding mask or None); state = the decoder's KV cache."""
        mask = None
        if src_lens is not None:
            mask = (torch.arange(src.size(1), device=src.device) < src_lens.to(src.device)[:, None]).long()  # (B, S)
        return (self.encode(src, mask), mask), self.new_cache(src.size(0), max_steps + 1)

    def decode_step(self, words: torch.Tensor, state: KVCache,
                    memory: tuple[torch.Tensor, torch.Tensor | None]) -> tuple[torch.Tensor, KVCache, None]:
        encoded, mask = memory
        logits = self.decode(words[:, None], encoded, mask, state)[:, -1]  # (N, V)
        return logits.float().log_softmax(-1), state, None  # cross-attention weights are not kept

    def select_rows(self, state: KVCache, rows: torch.Tensor) -> KVCache:
        state.reorder(rows)
        return state

    def repeat_memory(self, memory: tuple[torch.Tensor, torch.Tensor | None],
                      n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        encoded, mask = memory
        return encoded.expand(n, -1, -1), None if mask is None else mask.expand(n, -1)
