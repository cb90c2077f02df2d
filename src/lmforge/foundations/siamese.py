"""A Siamese network (bi-encoder) trained contrastively with in-batch negatives.

One encoder, applied to both sides of a pair (hence "Siamese": the twins share every weight), maps
an input to a vector; similar inputs should get vectors with a high cosine. Training uses the loss
sentence-transformers calls MultipleNegativesRankingLoss, the project's
:func:`lmforge.objectives.contrastive.in_batch_negatives_loss`: a batch holds B positive pairs
(a_i, p_i), and every other p_j of the batch is a negative for a_i, for free::

    scores = 20 * cos(E(a_i), E(p_j))        (B, B)
    loss   = cross_entropy(scores, target j = i)

Here a pair is two different handwritten images of the same digit, and a batch holds one pair per
class, so no "negative" is secretly a positive. The same encoder then retrieves: given a query image,
which of ten candidates (one per digit) is its match? A sentence encoder is this with a Transformer
for E and (question, answer) pairs for the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import DataError
from lmforge.models.base import check_positive
from lmforge.objectives.contrastive import in_batch_negatives_loss


@dataclass
class EncoderConfig:
    n_pixels: int = 64
    d_hidden: int = 128
    d_embed: int = 16

    def validate(self) -> None:
        check_positive(self, "n_pixels", "d_hidden", "d_embed")


class SiameseEncoder(nn.Module):
    family = "siamese-encoder"
    config_class = EncoderConfig

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.net = nn.Sequential(nn.Linear(c.n_pixels, c.d_hidden), nn.ReLU(), nn.Linear(c.d_hidden, c.d_embed))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, H, W) -> embeddings (B, d_embed) (not normalised: the loss and search use cosines)."""
        return self.net(images.flatten(1))


def contrastive_pair_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """The Trainer's loss: anchors (B, H, W) and positives (B, H, W), row i of each a pair."""
    anchors, positives = batch
    return in_batch_negatives_loss(model(anchors), model(positives))


def _by_class(labels: torch.Tensor) -> list[np.ndarray]:
    members = [np.flatnonzero(labels.numpy() == c) for c in range(int(labels.max()) + 1)]
    if any(len(m) < 2 for m in members):
        raise DataError("every class needs at least two examples to form a pair")
    return members


class ClassPairBatches:
    """Batches of one (anchor, positive) pair per class: two different images of the same class. Resumable."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> None:
        self.images, self.members = images, _by_class(labels)
        self.rng = np.random.default_rng(seed)

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        pairs = [self.rng.choice(m, size=2, replace=False) for m in self.members]  # (C, 2) row indices
        return self.images[[a for a, _ in pairs]], self.images[[p for _, p in pairs]]

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]


@torch.no_grad()
def pair_retrieval_accuracy(encoder: nn.Module, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> float:
    """Held-out matching: rounds of one query and one candidate per class (each image used once);
    the share of queries whose most cosine-similar candidate is the one of their class (chance: 1 / classes)."""
    members = [np.random.default_rng(seed).permutation(m) for m in _by_class(labels)]
    rounds = min(len(m) for m in members) // 2
    was_training = encoder.training
    encoder.eval()
    correct = 0
    for r in range(rounds):
        queries = F.normalize(encoder(images[[m[2 * r] for m in members]]), dim=-1)  # (C, d)
        candidates = F.normalize(encoder(images[[m[2 * r + 1] for m in members]]), dim=-1)  # (C, d)
        best = (queries @ candidates.T).argmax(dim=1)  # (C,): candidate chosen by each query
        correct += int((best == torch.arange(len(members))).sum())
    encoder.train(was_training)
    return correct / (rounds * len(members))
