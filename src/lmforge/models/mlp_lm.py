"""MLP language model (Bengio, Ducharme, Vincent & Jauvin 2003).

Predict the next token from a fixed window of the k previous ones:

    x = [C(w_{t-k+1}); ...; C(w_t)]        concatenated embeddings  (k * d_embed)
    h = tanh(W x + b)                       one hidden layer          (d_hidden)
    logits = U h + d                                                  (V)

Unlike counting n-grams, similar tokens get similar embeddings, so what is
learned about one context carries over to similar contexts. But the window is
fixed: nothing further back than k tokens can matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmforge.models.base import StreamingLM, StreamState, check_dropout, check_positive


@dataclass
class MLPLMConfig:
    vocab_size: int = 256
    context_length: int = 64  # training window (the model itself sees n_context tokens)
    n_context: int = 8  # k: how many previous tokens the model sees
    d_embed: int = 32
    d_hidden: int = 512
    dropout: float = 0.0

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "n_context", "d_embed", "d_hidden")
        check_dropout(self)


class MLPLM(StreamingLM):
    family = "mlp"
    config_class = MLPLMConfig

    def __init__(self, config: MLPLMConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.start_id = c.vocab_size  # an extra embedding row stands for "before the start of the window"
        self.emb = nn.Embedding(c.vocab_size + 1, c.d_embed)
        self.hidden = nn.Linear(c.n_context * c.d_embed, c.d_hidden)
        self.drop = nn.Dropout(c.dropout)
        self.out = nn.Linear(c.d_hidden, c.vocab_size)

    def forward(self, idx: torch.Tensor, cache: StreamState | None = None) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, V); position t sees tokens t-k+1..t."""
        k = self.config.n_context
        past = cache.memory if cache is not None and cache.memory is not None else None
        if past is None:
            past = idx.new_full((idx.shape[0], k - 1), self.start_id)  # (B, k-1)
        tokens = torch.cat([past, idx], dim=1)  # (B, k-1+T)
        if cache is not None:
            cache.advance(tokens[:, tokens.shape[1] - (k - 1) :], idx.shape[1])  # keep the last k-1 tokens
        windows = tokens.unfold(1, k, 1)  # (B, T, k): the k tokens ending at each position
        x = self.emb(windows).flatten(2)  # (B, T, k * d_embed)
        h = self.drop(torch.tanh(self.hidden(x)))  # (B, T, d_hidden)
        return self.out(h)  # (B, T, V)
