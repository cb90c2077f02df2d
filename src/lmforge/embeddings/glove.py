"""GloVe (Pennington et al., 2014): fit word vectors to log co-occurrence counts.

1. Count, over the whole corpus, how often word j occurs within ``window`` words
   of word i, each occurrence weighted ``1/distance`` (closer context counts more):
   a sparse symmetric matrix X.
2. Fit, for every non-zero X_ij, by weighted least squares:

       J = Σ_ij f(X_ij) (w_i · w̃_j + b_i + b̃_j - log X_ij)²
       f(x) = min(1, (x / x_max) ** alpha)      # rare pairs are noisy: weigh them less,
                                                # very frequent ones must not dominate
3. Use ``w + w̃`` as the word vectors (the paper's choice; both see the same data).

Optimised as in the paper and its C code: AdaGrad (lr 0.05, squared-gradient sums
starting at 1) on sparse tables, over the shuffled non-zero entries, for several epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lmforge.embeddings.corpus import EncodedCorpus
from lmforge.errors import ConfigError


@dataclass
class GloVeConfig:
    vocab_size: int
    dim: int = 100
    x_max: float = 100.0
    alpha: float = 0.75

    def validate(self) -> None:
        if self.vocab_size <= 0 or self.dim <= 0:
            raise ConfigError(f"vocab_size and dim must be positive (got {self.vocab_size}, {self.dim})")
        if self.x_max <= 0 or self.alpha <= 0:
            raise ConfigError(f"x_max and alpha must be positive (got {self.x_max}, {self.alpha})")


def _sum_duplicates(keys: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    unique, group = np.unique(keys, return_inverse=True)
    return unique, np.bincount(group, weights=weights)


def cooccurrence(corpus: EncodedCorpus, vocab_size: int, window: int = 10) -> tuple[np.ndarray, ...]:
    """Non-zero entries of the symmetric co-occurrence matrix: rows, cols (int32), values (float32).

    Pairs are counted in one direction per offset, summed by a sort on the packed key
    ``i * V + j``, then mirrored (X = C + Cᵀ). Memory is ~16 bytes per token and offset.
    """
    if window < 1:
        raise ConfigError(f"window must be >= 1, got {window}")
    ids, sentence, v = corpus.ids.astype(np.int64), corpus.sentence, np.int64(vocab_size)
    keys, weights = [], []
    for offset in range(1, window + 1):
        same = sentence[:-offset] == sentence[offset:]
        keys.append(ids[:-offset][same] * v + ids[offset:][same])
        weights.append(np.full(int(same.sum()), 1.0 / offset))
    one_way, counts = _sum_duplicates(np.concatenate(keys), np.concatenate(weights))
    mirrored = (one_way % v) * v + one_way // v
    both, values = _sum_duplicates(np.concatenate([one_way, mirrored]), np.concatenate([counts, counts]))
    return (both // v).astype(np.int32), (both % v).astype(np.int32), values.astype(np.float32)


class GloVe(nn.Module):
    family = "glove"
    config_class = GloVeConfig

    def __init__(self, config: GloVeConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        v, d = config.vocab_size, config.dim
        self.w, self.w_ctx = nn.Embedding(v, d, sparse=True), nn.Embedding(v, d, sparse=True)
        self.b, self.b_ctx = nn.Embedding(v, 1, sparse=True), nn.Embedding(v, 1, sparse=True)
        for table in (self.w, self.w_ctx):
            nn.init.uniform_(table.weight, -0.5 / d, 0.5 / d)
        for bias in (self.b, self.b_ctx):
            nn.init.zeros_(bias.weight)

    def forward(self, rows: torch.Tensor, cols: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """½ Σ f(X_ij) (w_i · w̃_j + b_i + b̃_j - log X_ij)² over a batch of (i, j, X_ij), each (B,)."""
        predicted = (self.w(rows) * self.w_ctx(cols)).sum(dim=1) + self.b(rows)[:, 0] + self.b_ctx(cols)[:, 0]
        weight = (counts / self.config.x_max).clamp(max=1.0) ** self.config.alpha  # f(X_ij), (B,)
        return 0.5 * (weight * (predicted - counts.log()) ** 2).sum()

    @torch.no_grad()
    def word_vectors(self) -> torch.Tensor:
        return (self.w.weight + self.w_ctx.weight).detach().clone()
