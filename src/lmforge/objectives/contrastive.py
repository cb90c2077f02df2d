"""In-batch negatives for sentence encoders (sentence-transformers' MultipleNegativesRankingLoss).

A batch holds B (query, passage) pairs. Every query should be closer to its own passage than to
the other B - 1 passages of the batch, which serve as negatives for free:

    loss = cross_entropy(scale * cos(q_i, p_j), target j = i)      # (B, B) similarity matrix

``scale`` (20, as sentence-transformers uses) sharpens the softmax over cosines in [-1, 1].
Two pairs with the same passage would make a correct answer count as a negative, so batches
should hold distinct passages (``tasks.retrieval`` builds them that way).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class PairBatch:
    query_ids: torch.Tensor  # (B, Tq)
    query_mask: torch.Tensor  # (B, Tq)
    passage_ids: torch.Tensor  # (B, Tp)
    passage_mask: torch.Tensor  # (B, Tp)


def in_batch_negatives_loss(queries: torch.Tensor, passages: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """Queries (B, C), passages (B, C), row i of each a positive pair -> mean cross-entropy."""
    scores = scale * F.normalize(queries, dim=-1) @ F.normalize(passages, dim=-1).T  # (B, B) scaled cosines
    return F.cross_entropy(scores, torch.arange(len(queries), device=scores.device))


def contrastive_loss(model: nn.Module, batch: PairBatch) -> torch.Tensor:
    """The Trainer's loss function: embed both sides with the model's ``embed`` (mean pooling)."""
    return in_batch_negatives_loss(model.embed(batch.query_ids, batch.query_mask),
                                   model.embed(batch.passage_ids, batch.passage_mask))
