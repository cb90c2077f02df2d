"""Recurrent language models: embedding -> RNN/LSTM/GRU stack -> linear head.

Three families (``rnn``, ``lstm``, ``gru``) that differ only in the cell of
:mod:`lmforge.models.blocks.recurrent`, so they share one config dataclass.
Training cuts the text into windows of ``context_length`` tokens and starts
each from a zero state (truncated backpropagation through time); generation
carries the state from token to token, so each new token costs one step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmforge.models.base import StreamingLM, StreamState, check_dropout, check_positive
from lmforge.models.blocks.recurrent import CellType, RecurrentImpl, RecurrentStack


@dataclass
class RecurrentLMConfig:
    vocab_size: int = 256
    context_length: int = 64  # training window (truncated BPTT)
    d_embed: int = 64
    d_hidden: int = 256
    n_layers: int = 2
    dropout: float = 0.0
    impl: RecurrentImpl = "torch"  # "reference": our gate-by-gate Python loop (same weights, slower)

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length", "d_embed", "d_hidden", "n_layers")
        check_dropout(self)


class RecurrentLM(StreamingLM):
    config_class = RecurrentLMConfig
    cell: CellType

    def __init__(self, config: RecurrentLMConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.emb = nn.Embedding(c.vocab_size, c.d_embed)
        self.rnn = RecurrentStack(self.cell, c.d_embed, c.d_hidden, c.n_layers, c.dropout, c.impl)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.d_hidden, c.vocab_size)

    def forward(self, idx: torch.Tensor, cache: StreamState | None = None) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, V)."""
        x = self.drop(self.emb(idx))  # (B, T, d_embed)
        out, state = self.rnn(x, cache.memory if cache is not None else None)  # (B, T, d_hidden)
        if cache is not None:
            cache.advance(state, idx.shape[1])
        return self.head(self.drop(out))  # (B, T, V)


class RNNLM(RecurrentLM):
    family = cell = "rnn"


class LSTMLM(RecurrentLM):
    family = cell = "lstm"


class GRULM(RecurrentLM):
    family = cell = "gru"
