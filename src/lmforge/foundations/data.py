"""The data the foundations pieces learn from, and the batch source they feed the one Trainer.

- scikit-learn's bundled digits (1,797 8x8 greyscale images of handwritten 0-9, UCI ML handwritten
  digits; no download), scaled to [0, 1] and split with :func:`lmforge.classic.data.stratified_split`;
- sentences as padded word-id rows, with the words of :class:`lmforge.classic.vectorize.CountVectorizer`
  (the same terms the bag-of-words baseline sees, so a CNN and logistic regression compare on equal input).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from lmforge.classic.data import stratified_split
from lmforge.classic.vectorize import CountVectorizer
from lmforge.errors import DataError


@dataclass
class Split:
    """Inputs and integer labels, held-out part separate: ``x_train`` (N, ...), ``y_train`` (N,) int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """The 8x8 digits as float32 images (N, 8, 8) in [0, 1], a seeded stratified split."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images / 16.0, dtype=torch.float32)  # pixel values are 0..16
    labels = torch.tensor(data.target, dtype=torch.long)
    train, test = stratified_split(data.target, test_fraction, seed)
    return Split(images[train], labels[train], images[test], labels[test])


class WordIds:
    """Sentence -> fixed-length row of word ids: 0 pads, 1 is a word outside the vocabulary."""

    def __init__(self, texts: Sequence[str], min_df: int = 1) -> None:
        self.vectorizer = CountVectorizer(min_df=min_df)
        self.vectorizer.fit(texts)
        self.index = {term: column + 2 for term, column in self.vectorizer.vocabulary_.items()}

    def __len__(self) -> int:
        return len(self.index) + 2

    def encode(self, texts: Sequence[str], length: int) -> torch.Tensor:
        """Texts -> (N, length) int64, cut after ``length`` words, right-padded with 0."""
        out = torch.zeros(len(texts), length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.index.get(w, 1) for w in self.vectorizer.analyze(text)][:length] or [1]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


def labeled_sentences(texts: Sequence[str], labels: Sequence[str], length: int = 48, min_df: int = 1,
                      test_fraction: float = 0.2, seed: int = 0) -> tuple[Split, WordIds, list[str]]:
    """Word-id rows and class ids, split; the vocabulary comes from the training part only."""
    if len(texts) != len(labels) or not texts:
        raise DataError(f"need as many labels as texts, and at least one (got {len(texts)} and {len(labels)})")
    classes = sorted(set(labels))
    train, test = stratified_split(list(labels), test_fraction, seed)
    words = WordIds([texts[i] for i in train], min_df)
    ids = words.encode(texts, length)
    y = torch.tensor([classes.index(label) for label in labels])
    return Split(ids[train], y[train], ids[test], y[test]), words, classes


class TensorBatches:
    """Shuffled epochs over rows of equal-length tensors, resumable: the Trainer's BatchSource for in-memory data."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise DataError("TensorBatches needs one or more tensors with the same number of rows")
        if not 0 < batch_size <= len(tensors[0]):
            raise DataError(f"batch_size must be in 1..{len(tensors[0])} (the rows), got {batch_size}")
        self.tensors, self.batch_size = tensors, batch_size
        self.rng = np.random.default_rng(seed)
        self.order: list[int] = []

    def next_batch(self) -> tuple[torch.Tensor, ...]:
        if len(self.order) < self.batch_size:  # a new epoch: a batch never repeats a row
            self.order = self.rng.permutation(len(self.tensors[0])).tolist()
        take, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return tuple(t[take] for t in self.tensors)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": list(self.order)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state, self.order = state["rng"], list(state["order"])
