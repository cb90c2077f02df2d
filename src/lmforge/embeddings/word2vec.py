"""Word2Vec (Mikolov et al., 2013): skip-gram and CBOW with negative sampling.

Two tables of vectors: ``inp`` (the word vectors we keep) and ``out`` (context
vectors used only for training). For a center representation ``h`` and a true
context word ``o`` with ``k`` negatives ``n_1..n_k`` drawn from unigram^0.75:

    loss = -log σ(u_o · h) - Σ_j log σ(-u_{n_j} · h)

i.e. logistic regression "is this a real (word, context) pair or noise?", which
approximates the full softmax over the vocabulary at O(k) instead of O(V) cost.

- skip-gram: ``h = inp[center]`` predicts each context word (good for rare words).
- CBOW: ``h = mean(inp[context words])`` predicts the center (faster, smoother).

Initialisation follows the C code: ``inp ~ U(-0.5/D, 0.5/D)``, ``out = 0``.
The tables are ``sparse``: a batch touches a few hundred rows, so the gradient (and
the SGD update, see :mod:`lmforge.embeddings.training`) only covers those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError

Mode = Literal["skipgram", "cbow"]


@dataclass
class Word2VecConfig:
    vocab_size: int
    dim: int = 100
    mode: Mode = "skipgram"

    def validate(self) -> None:
        if self.vocab_size <= 0 or self.dim <= 0:
            raise ConfigError(f"vocab_size and dim must be positive (got {self.vocab_size}, {self.dim})")
        if self.mode not in ("skipgram", "cbow"):
            raise ConfigError(f"mode must be 'skipgram' or 'cbow', got {self.mode!r}")


def negative_sampling_loss(hidden: torch.Tensor, out: nn.Embedding, targets: torch.Tensor,
                           negatives: torch.Tensor) -> torch.Tensor:
    """SGNS loss summed over the batch (each pair is one word2vec SGD example). hidden (B, D),
    targets (B,), negatives (B, k)."""
    words = torch.cat([targets[:, None], negatives], dim=1)  # (B, 1+k)
    scores = torch.bmm(out(words), hidden[:, :, None]).squeeze(-1)  # (B, 1+k)
    sign = torch.ones_like(scores)
    sign[:, 1:] = -1.0  # the true word should score high, the negatives low
    return -F.logsigmoid(sign * scores).sum()


def mean_with_full_gradient(summed: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Forward: the mean ``summed / count``. Backward: every summed vector receives the *full*
    gradient, not ``1/count`` of it, which is how word2vec.c / gensim update CBOW context words
    and fastText updates a word's subword rows (autograd through a plain mean would shrink the
    step of each row by the number of rows averaged)."""
    return summed + (summed / count - summed).detach()


def init_word2vec_tables(inp: nn.Module, out: nn.Embedding, dim: int) -> None:
    nn.init.uniform_(inp.weight, -0.5 / dim, 0.5 / dim)
    nn.init.zeros_(out.weight)


class Word2Vec(nn.Module):
    family = "word2vec"
    config_class = Word2VecConfig

    def __init__(self, config: Word2VecConfig) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.inp = nn.Embedding(config.vocab_size, config.dim, sparse=True)
        self.out = nn.Embedding(config.vocab_size, config.dim, sparse=True)
        init_word2vec_tables(self.inp, self.out, config.dim)

    def hidden(self, inputs: torch.Tensor) -> torch.Tensor:
        """skip-gram: inputs (B,) center ids. CBOW: inputs (B, 2W) context ids, -1 = empty slot."""
        if self.config.mode == "skipgram":
            return self.inp(inputs)  # (B, D)
        mask = (inputs >= 0).unsqueeze(-1).to(self.inp.weight.dtype)  # (B, 2W, 1)
        summed = (self.inp(inputs.clamp(min=0)) * mask).sum(dim=1)  # (B, D)
        return mean_with_full_gradient(summed, mask.sum(dim=1).clamp(min=1.0))

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        return negative_sampling_loss(self.hidden(inputs), self.out, targets, negatives)

    @torch.no_grad()
    def word_vectors(self) -> torch.Tensor:
        """(V, D): the input table, as in word2vec and gensim."""
        return self.inp.weight.detach().clone()
