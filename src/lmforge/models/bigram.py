"""Bigram language model: the next token depends only on the current one.

The whole model is a V x V table whose row ``a`` holds the logits of the token
after ``a``. It can be *counted* (maximum likelihood with add-alpha smoothing,
:meth:`BigramLM.from_counts`) or *learned* by gradient descent like every other
family; trained long enough, the learned table converges to the counted one,
which makes the bigram the baseline every other model must beat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lmforge.models.base import StreamingLM, StreamState, check_positive


@dataclass
class BigramConfig:
    vocab_size: int = 256
    context_length: int = 64  # training window only: the model itself looks one token back

    def validate(self) -> None:
        check_positive(self, "vocab_size", "context_length")


class BigramLM(StreamingLM):
    family = "bigram"
    config_class = BigramConfig

    def __init__(self, config: BigramConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.table = nn.Embedding(config.vocab_size, config.vocab_size)  # row a: logits of the token after a
        nn.init.zeros_(self.table.weight)  # start at the uniform distribution (loss = ln V)

    def forward(self, idx: torch.Tensor, cache: StreamState | None = None) -> torch.Tensor:
        """Token ids (B, T) -> next-token logits (B, T, V)."""
        if cache is not None:
            cache.advance(None, idx.shape[1])
        return self.table(idx)

    @classmethod
    def from_counts(cls, config: BigramConfig, token_arrays: Iterable[np.ndarray], smoothing: float = 1.0) -> BigramLM:
        """Count pairs in each array and set P(b | a) = (n(a, b) + alpha) / (n(a) + alpha * V).

        Smoothing (alpha > 0) gives pairs never seen in training a small
        probability, so validation loss stays finite.
        """
        V = config.vocab_size
        counts = np.zeros(V * V, dtype=np.float64)
        for tokens in token_arrays:
            tokens = np.asarray(tokens, dtype=np.int64)
            counts += np.bincount(tokens[:-1] * V + tokens[1:], minlength=V * V)  # pair (a, b) -> index a*V + b
        counts = counts.reshape(V, V) + smoothing
        model = cls(config)
        with torch.no_grad():
            model.table.weight.copy_(torch.from_numpy(np.log(counts / counts.sum(axis=1, keepdims=True))))
        return model
