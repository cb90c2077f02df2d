"""XLNet: a language model over *random factorization orders*, with two-stream attention.

What changed, and why: BERT predicts masked tokens independently and trains on a ``[MASK]`` symbol that
never occurs at test time; GPT sees only the left context. XLNet keeps the autoregressive objective
but draws, per sequence, a random order of the positions and predicts each target from the tokens that
come before it *in that order* (:mod:`lmforge.objectives.plm`). Averaged over orders, every token learns
from context on both sides, with no corrupted input. Two pieces make it work:

- ``perm_mask`` (B, T, T), 1 where query i may not see key j: the order, expressed as an attention mask
  over tokens that stay in their places (the input is never shuffled);
- two-stream attention (:mod:`~lmforge.models.blocks.two_stream`): a query stream that knows the target's
  position but not its token, reading a content stream that knows both. ``target_mapping`` (B, M, T)
  says which position each of the M query-stream rows predicts.

Positions are Transformer-XL's relative sinusoids with learned per-head biases, plus a relative segment
term (same segment or not) instead of BERT's absolute token types. Blocks are post-norm, the output
matrix is the tied embedding plus a bias. Transformer-XL's memory of the previous segment (``mems``)
is not built here: the runs are single segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.models.base import ModelBase, check_dropout, check_positive, init_normal
from lmforge.models.blocks.mlp import MLP, Activation
from lmforge.models.blocks.two_stream import TwoStreamAttention, TwoStreamBlock, blocked_bias, relative_sinusoids

FAMILY = "xlnet"


@dataclass
class XLNetConfig:
    vocab_size: int = 32000
    context_length: int = 512  # XLNet has no position table; this bounds the training windows only
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_mlp: int = 3072
    activation: Activation = "gelu"
    layer_norm_eps: float = 1e-12
    clamp_len: int | None = None  # distances beyond this share one encoding
    dropout: float = 0.1

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_model", "n_layers", "n_heads", "d_mlp")
        check_dropout(self)


class XLNet(ModelBase):
    family = FAMILY
    config_class = XLNetConfig

    def __init__(self, config: XLNetConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.mask_emb = nn.Parameter(torch.zeros(c.d_model))  # the query stream's input: "a token goes here"
        self.blocks = nn.ModuleList(
            TwoStreamBlock(TwoStreamAttention(c.d_model, c.n_heads, c.dropout),
                           MLP(c.d_model, c.d_mlp, c.activation, dropout=c.dropout),
                           nn.LayerNorm(c.d_model, eps=c.layer_norm_eps), nn.LayerNorm(c.d_model, eps=c.layer_norm_eps),
                           c.dropout)
            for _ in range(c.n_layers)
        )
        self.drop = nn.Dropout(c.dropout)
        self.lm_bias = nn.Parameter(torch.zeros(c.vocab_size))  # output matrix: tied to tok_emb
        self.apply(init_normal)
        for block in self.blocks:
            for p in (block.attn.content_bias, block.attn.position_bias, block.attn.segment_bias,
                      block.attn.segment_embed):
                nn.init.normal_(p, std=0.02)
        nn.init.normal_(self.mask_emb, std=0.02)

    def forward(self, ids: torch.Tensor, perm_mask: torch.Tensor | None = None,
                target_mapping: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, T); perm_mask (B, T, T), 1 = query i may not see key j; target_mapping (B, M, T);
        segments (B, T); attention_mask (B, T), 1 = real token. -> the query stream's states (B, M, C) with
        a target mapping, else the content stream's (B, T, C)."""
        B, T = ids.shape
        blocked = None if perm_mask is None else perm_mask.bool()  # (B, T, T)
        if attention_mask is not None:  # nobody reads padding
            pads = ~attention_mask.bool()[:, None, :].expand(B, T, T)
            blocked = pads if blocked is None else blocked | pads
        eye = torch.eye(T, dtype=torch.bool, device=ids.device)
        context = dict(  # what every layer needs
            positions=self.drop(relative_sinusoids(T, self.config.d_model, self.config.clamp_len, ids.device)),
            other_segment=None if token_type_ids is None else token_type_ids[:, :, None] != token_type_ids[:, None],
            mask_h=blocked_bias(None if blocked is None else blocked & ~eye),  # the content stream sees itself
            mask_g=blocked_bias(blocked), target_mapping=None if target_mapping is None else target_mapping.float())
        h = self.drop(self.tok_emb(ids))  # (B, T, C)
        g = None if target_mapping is None else self.drop(self.mask_emb.expand(B, target_mapping.shape[1], -1))
        for block in self.blocks:
            h, g = block(h, g, **context)
        return self.drop(h if g is None else g)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, M, C) -> (B, M, vocab): the tied output matrix plus a bias."""
        return F.linear(hidden, self.tok_emb.weight, self.lm_bias)
