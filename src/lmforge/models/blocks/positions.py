"""Position information. Attention alone is order-blind (a set operation), so
each position gets a vector added to its token embedding."""

from __future__ import annotations

import torch
from torch import nn


class LearnedPositions(nn.Module):
    """GPT-2/BERT style: one trained vector per position, up to ``max_len``."""

    def __init__(self, max_len: int, d_model: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, start: int, length: int) -> torch.Tensor:  # -> (T, C)
        if start + length > self.max_len:
            raise ValueError(f"positions up to {start + length} exceed the context length {self.max_len}")
        return self.table(torch.arange(start, start + length, device=self.table.weight.device))
