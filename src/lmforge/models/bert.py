"""BERT: a bidirectional encoder (every token sees every other), pretrained with
masked-LM and next-sentence-prediction heads, plus the ALBERT options.

Built from the same blocks as GPT, with three differences: attention is not
causal; blocks are post-norm (x = LN(x + f(x)), as in the original Transformer);
and a third embedding, the *token type* (segment A or B), tells the two
sentences of a pair apart.

ALBERT options:
- ``embedding_dim < d_model``: factorized embeddings. Tokens are embedded in a
  small E-wide space and projected up to C, so the V x E table costs far less
  than V x C;
- ``share_layers``: one block's weights reused for all ``n_layers`` layers.

ELECTRA option: ``replaced_token_head``, the discriminator's per-token
"original or replaced?" logit (:meth:`replaced_logits`).

Outputs: ``forward`` gives the hidden states (B, T, C); the heads are separate
methods (:meth:`mlm_logits`, :meth:`pool`, :meth:`nsp_logits`,
:meth:`embed`, :meth:`replaced_logits`) so each objective takes what it needs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import Capability, ModelBase, check_dropout, check_positive, init_normal, mean_pool
from lmforge.models.blocks.attention import AttentionImpl, SelfAttention, optional_padding_bias
from lmforge.models.blocks.mlp import MLP, Activation, activation_fn
from lmforge.models.blocks.positions import LearnedPositions
from lmforge.models.blocks.transformer_block import TransformerBlock

FAMILY = "bert"


@dataclass
class BertConfig:
    vocab_size: int = 30522
    context_length: int = 512
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_mlp: int = 3072
    type_vocab_size: int = 2
    embedding_dim: int | None = None  # ALBERT: factorized embeddings (E < d_model); default d_model
    share_layers: bool = False  # ALBERT: one set of block weights for every layer
    activation: Activation = "gelu"
    layer_norm_eps: float = 1e-12
    dropout: float = 0.1
    pad_id: int = 0
    pooler: bool = True
    pretraining_heads: bool = True  # MLM + NSP heads (absent from many released encoders)
    attention_impl: AttentionImpl = "sdpa"
    embedding_projection: bool = False  # HF ALBERT: the E -> C projection is there even when E == d_model
    pair_head: bool = True  # with pretraining_heads: NSP (ALBERT: sentence order) head; False = MLM head only
    replaced_token_head: bool = False  # ELECTRA discriminator: per token, "was this token replaced?"

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_mlp",
                       "type_vocab_size")
        if self.d_model % self.n_heads:
            raise ConfigError(f"BertConfig: d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
        if self.pretraining_heads and self.pair_head and not self.pooler:
            raise ConfigError("BertConfig: the next-sentence head reads the pooler, so pretraining_heads needs pooler")
        check_dropout(self)

    @property
    def embedding_width(self) -> int:
        return self.embedding_dim or self.d_model

    @property
    def position_rows(self) -> int:
        """Rows of the position table (RoBERTa's are offset past the padding id, so it has more)."""
        return self.context_length


class Bert(ModelBase):
    family = FAMILY
    config_class = BertConfig
    capabilities = frozenset({Capability.EMBED})

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        E, C = c.embedding_width, c.d_model
        self.tok_emb = nn.Embedding(c.vocab_size, E)
        self.pos_emb = LearnedPositions(c.position_rows, E)
        self.type_emb = nn.Embedding(c.type_vocab_size, E)
        self.emb_norm = nn.LayerNorm(E, eps=c.layer_norm_eps)
        self.emb_proj = nn.Linear(E, C) if E != C or c.embedding_projection else None  # ALBERT: E -> C
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(
                attn=SelfAttention(C, c.n_heads, dropout=c.dropout, causal=False, impl=c.attention_impl),
                mlp=MLP(C, c.d_mlp, c.activation, dropout=c.dropout),
                norm1=nn.LayerNorm(C, eps=c.layer_norm_eps),
                norm2=nn.LayerNorm(C, eps=c.layer_norm_eps),
                pre_norm=False,
            )
            for _ in range(1 if c.share_layers else c.n_layers)
        )
        self.pooler = nn.Linear(C, C) if c.pooler else None  # [CLS] -> sentence vector
        if c.pretraining_heads:
            self.act = activation_fn(c.activation)
            self.mlm_transform = nn.Linear(C, E)
            self.mlm_norm = nn.LayerNorm(E, eps=c.layer_norm_eps)
            self.mlm_bias = nn.Parameter(torch.zeros(c.vocab_size))  # output matrix: tied to tok_emb
        if c.pretraining_heads and c.pair_head:
            self.nsp_head = nn.Linear(C, 2)  # is sentence B the real continuation of A?
        if c.replaced_token_head:  # ELECTRA: dense -> act -> one logit per token
            self.rtd_head = nn.Sequential(OrderedDict(
                dense=nn.Linear(C, C), act=ActivationLayer(c.activation), out=nn.Linear(C, 1)))
        self.apply(init_normal)

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, visible: torch.Tensor | None = None) -> torch.Tensor:
        """Token ids (B, T), segment ids (B, T), mask (B, T; 1 = real token) -> hidden states (B, T, C).

        ``visible`` (B, T, T), True where query i may attend to key j (UniLM's masks, models/unilm.py);
        by default every token sees every real token."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(ids)
        x = self.tok_emb(ids) + self.positions(ids) + self.type_emb(token_type_ids)  # (B, T, E)
        x = self.drop(self.emb_norm(x))
        if self.emb_proj is not None:
            x = self.emb_proj(x)  # (B, T, C)
        bias = optional_padding_bias(attention_mask, x.dtype)  # pads get no attention
        if visible is not None:
            keep = visible if attention_mask is None else visible & attention_mask[:, None, :].bool()
            bias = (1.0 - keep[:, None].to(x.dtype)) * torch.finfo(x.dtype).min  # (B, 1, T, T)
        for i in range(self.config.n_layers):
            x = self.blocks[0 if self.config.share_layers else i](x, bias=bias)
        return x

    def positions(self, ids: torch.Tensor) -> torch.Tensor:
        """Position embeddings for token ids (B, T): (T, E), the same for every row."""
        return self.pos_emb(0, ids.shape[1])

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, vocab): which token was masked out at each position."""
        h = self.mlm_norm(self.act(self.mlm_transform(hidden)))  # (B, T, E)
        # one fused matmul-plus-bias (addmm); a separate `+ bias` would re-read the (B, T, vocab) logits
        return F.linear(h, self.tok_emb.weight, self.mlm_bias)

    def pool(self, hidden: torch.Tensor) -> torch.Tensor:
        """BERT's sentence vector: tanh(W h_[CLS] + b), (B, C)."""
        return torch.tanh(self.pooler(hidden[:, 0]))

    def nsp_logits(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.nsp_head(pooled)  # (B, 2): 0 = B follows A, 1 = B is random

    def replaced_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """ELECTRA discriminator, (B, T, C) -> (B, T): > 0 means "this token was replaced"."""
        return self.rtd_head(hidden).squeeze(-1)

    def embed(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the hidden states over real tokens (sentence-transformers' pooling), (B, C)."""
        hidden = self(ids, attention_mask=attention_mask)
        return mean_pool(hidden, attention_mask)


class ActivationLayer(nn.Module):
    """:func:`activation_fn` as a module, so it can sit in an ``nn.Sequential``."""

    def __init__(self, name: Activation) -> None:
        super().__init__()
        self.fn = activation_fn(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)
