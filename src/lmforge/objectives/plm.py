"""XLNet's permutation language modelling (PLM).

For each sequence, draw a random factorization order of its positions (a permutation; the tokens stay
where they are) and predict the *last* ``n_targets`` tokens of that order, each from the tokens that come
before it in the order — left and right neighbours alike. Predicting only the tail ("partial prediction")
keeps every target's context long, which is what makes the objective learn fast.

The order reaches the model as two tensors (see :class:`~lmforge.models.xlnet.XLNet`):
``perm_mask[b, i, j] = 1`` where position j does not come before i in the order (the query of i may not
read it), and ``target_mapping[b, m]``, the one-hot position of the m-th target (targets in position
order). The loss is the cross-entropy of the query stream's predictions at the targets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError

PLMBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def permutation_batch(ids: torch.Tensor, n_targets: int, generator: torch.Generator) -> PLMBatch:
    """ids (B, T) -> (ids, perm_mask (B, T, T) float, target_mapping (B, M, T) float, labels (B, M))."""
    B, T = ids.shape
    if not 0 < n_targets < T:
        raise ConfigError(f"permutation LM: n_targets must be in [1, {T - 1}] for windows of {T} tokens, "
                          f"got {n_targets}")
    rank = torch.rand(B, T, generator=generator).argsort(-1).argsort(-1)  # (B, T): place of each position in the order
    perm_mask = (rank[:, None, :] >= rank[:, :, None]).float()  # key j not before query i: hidden
    targets = torch.nonzero(rank >= T - n_targets)[:, 1].view(B, n_targets)  # (B, M), ascending positions
    target_mapping = F.one_hot(targets, T).float()
    return ids, perm_mask, target_mapping, ids.gather(1, targets)


def plm_corruption(n_targets: int):
    """The :class:`~lmforge.objectives.batches.CorruptedWindows` corruption for XLNet pretraining."""
    def corrupt(windows: torch.Tensor, generator: torch.Generator) -> PLMBatch:
        return permutation_batch(windows, n_targets, generator)
    return corrupt


def plm_loss(model: nn.Module, batch: PLMBatch) -> torch.Tensor:
    """Cross-entropy of the query stream at the targets (``model`` is a :class:`~lmforge.models.xlnet.XLNet`)."""
    ids, perm_mask, target_mapping, labels = batch
    logits = model.logits(model(ids, perm_mask, target_mapping))  # (B, M, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten())
