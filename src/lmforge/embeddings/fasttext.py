"""FastText (Bojanowski et al., 2017): skip-gram over words *and their character n-grams*.

A word is represented by the mean of its own vector and the vectors of its
character n-grams (lengths ``min_n..max_n``) of ``<word>`` (``<``/``>`` mark the
word's edges, so ``<un`` is a prefix and ``ing>`` a suffix)::

    where -> <where> -> <wh, whe, her, ere, re>, <whe, ..., <where>

N-grams are hashed into ``buckets`` shared rows (FNV-1a, exactly as fastText and
gensim compute it, so collisions are the same), which bounds memory for any
vocabulary. Training is word2vec's skip-gram with negative sampling with that
bag-of-subwords center vector. The payoff: a word never seen in training still
gets a vector from its n-grams, close to its morphological relatives
(``whalers`` near ``whaler``, ``whaling``).

Table layout: rows ``0..V-1`` are the vocabulary words, rows ``V..V+buckets-1``
the n-gram buckets, and one last all-zero row pads shorter subword lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lmforge.embeddings.vectors import WordVectors
from lmforge.embeddings.word2vec import init_word2vec_tables, mean_with_full_gradient, negative_sampling_loss
from lmforge.errors import ConfigError

FNV_OFFSET, FNV_PRIME, MASK32 = 2166136261, 16777619, 0xFFFFFFFF


def char_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """All character n-grams of ``<word>`` with ``min_n <= n <= max_n`` (gensim's order)."""
    extended = f"<{word}>"
    return [extended[i:i + n] for n in range(min_n, min(len(extended), max_n) + 1)
            for i in range(len(extended) - n + 1)]


def fasttext_hash(data: bytes) -> int:
    """32-bit FNV-1a as in fastText's dictionary.cc: each byte is sign-extended first
    (``uint32_t(int8_t(c))``), a quirk kept so bucket ids match fastText and gensim."""
    h = FNV_OFFSET
    for byte in data:
        h ^= byte if byte < 128 else (byte | 0xFFFFFF00)
        h = (h * FNV_PRIME) & MASK32
    return h


def ngram_buckets(word: str, min_n: int, max_n: int, buckets: int) -> list[int]:
    return [fasttext_hash(g.encode("utf-8")) % buckets for g in char_ngrams(word, min_n, max_n)]


@dataclass
class FastTextConfig:
    vocab_size: int
    dim: int = 100
    buckets: int = 100_000
    min_n: int = 3
    max_n: int = 6
    max_subwords: int = 64  # width of the per-word subword table; longer words keep their first n-grams

    def validate(self) -> None:
        if self.vocab_size <= 0 or self.dim <= 0 or self.buckets <= 0:
            raise ConfigError("vocab_size, dim and buckets must be positive "
                              f"(got {self.vocab_size}, {self.dim}, {self.buckets})")
        if not 1 <= self.min_n <= self.max_n:
            raise ConfigError(f"need 1 <= min_n <= max_n, got min_n={self.min_n}, max_n={self.max_n}")
        if self.max_subwords < 2:
            raise ConfigError(f"max_subwords must be >= 2, got {self.max_subwords}")


class FastText(nn.Module):
    family = "fasttext"
    config_class = FastTextConfig

    def __init__(self, config: FastTextConfig, words: Sequence[str] | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        self.pad = config.vocab_size + config.buckets  # index of the all-zero padding row
        self.inp = nn.EmbeddingBag(self.pad + 1, config.dim, mode="sum", padding_idx=self.pad, sparse=True)
        self.out = nn.Embedding(config.vocab_size, config.dim, sparse=True)
        init_word2vec_tables(self.inp, self.out, config.dim)
        with torch.no_grad():
            self.inp.weight[self.pad].zero_()
        # (V, S) rows of the input table per vocabulary word; saved with the weights so a
        # model file alone can rebuild every in-vocabulary vector.
        table = torch.full((config.vocab_size, config.max_subwords), self.pad, dtype=torch.int32)
        if words is not None:
            if len(words) != config.vocab_size:
                raise ConfigError(f"{len(words)} words for a vocab_size of {config.vocab_size}")
            for i, word in enumerate(words):
                row = self.subword_ids(word, i)
                table[i, :len(row)] = torch.tensor(row, dtype=torch.int32)
        self.register_buffer("subwords", table)

    def subword_ids(self, word: str, word_id: int | None = None) -> list[int]:
        """Input-table rows of ``word``: its own row (if in the vocabulary) then its n-gram buckets."""
        c = self.config
        grams = [c.vocab_size + b for b in ngram_buckets(word, c.min_n, c.max_n, c.buckets)]
        own = [] if word_id is None else [word_id]
        return (own + grams)[:c.max_subwords]

    def bag_mean(self, rows: torch.Tensor) -> torch.Tensor:
        """(B, S) input-table rows (``pad`` = empty slot) -> (B, D) mean of the non-padding rows."""
        count = (rows != self.pad).sum(dim=1, keepdim=True).clamp(min=1).to(self.inp.weight.dtype)  # (B, 1)
        return mean_with_full_gradient(self.inp(rows), count)

    def forward(self, centers: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        hidden = self.bag_mean(self.subwords[centers])  # (B, S) -> (B, D)
        return negative_sampling_loss(hidden, self.out, targets, negatives)

    @torch.no_grad()
    def word_vectors(self) -> torch.Tensor:
        """(V, D) vectors of the vocabulary words (own vector and n-grams averaged)."""
        return torch.cat([self.bag_mean(rows) for rows in self.subwords.split(4096)])

    @torch.no_grad()
    def oov_vector(self, word: str) -> torch.Tensor:
        """(D,) vector of any word from its n-grams alone (zeros if it has none)."""
        return self.bag_mean(torch.tensor([self.subword_ids(word)], dtype=torch.int64))[0]


class FastTextVectors(WordVectors):
    """Word vectors that also answer for unseen words, through the model's n-grams."""

    def __init__(self, words: Sequence[str], model: FastText, counts: Sequence[int] | None = None) -> None:
        super().__init__(words, model.word_vectors(), counts)
        self.model = model.eval()

    def has_vector(self, word: str) -> bool:
        return True

    def vector(self, word: str) -> torch.Tensor:
        if word in self.index:
            return self.vectors[self.index[word]]
        return self.model.oov_vector(word)

