"""BERT pretraining: masked language modelling + next-sentence prediction.

A training example is a pair of segments ``[CLS] A [SEP] B [SEP]``. Half the
time B is the text that really follows A; otherwise B comes from a random
other place in the corpus, and the NSP head (reading the pooled ``[CLS]``)
must tell which. Independently, 15% of the tokens are masked (80/10/10, see
:func:`~lmforge.objectives.masking.mlm_mask`) and the MLM head must restore
them. The loss is the sum of both cross-entropies.

Segments are cut from random corpus windows at a random point (not at
sentence boundaries, which a tokenizer-agnostic token stream does not mark);
the "random" B is taken from another window of the same batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError
from lmforge.objectives.masking import IGNORE, SpecialIds, mlm_mask

MLMBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def make_pairs(
    windows: torch.Tensor, special: SpecialIds, generator: torch.Generator, random_fraction: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows (B, L) -> ``[CLS] A [SEP] B [SEP]`` ids (B, L+3), segment ids (B, L+3), NSP labels (B,).

    NSP label 0: B follows A; 1: B is random (HF's convention), in about ``random_fraction`` of the rows.
    """
    B, L = windows.shape
    if B < 2 or L < 2:
        raise ConfigError(f"next-sentence pairs need a batch of at least 2 windows of 2+ tokens, got {B} x {L}")
    split = torch.randint(1, L, (B, 1), generator=generator)  # A = positions [0, split)
    is_random = torch.rand(B, generator=generator) < random_fraction
    donor = windows.roll(1, dims=0)  # another random window for the "random B" rows
    pos = torch.arange(L).expand(B, L)
    in_b = pos >= split
    tokens = torch.where(in_b & is_random[:, None], donor, windows)  # (B, L)
    out = torch.full((B, L + 3), special.sep, dtype=windows.dtype)
    out[:, 0] = special.cls
    out.scatter_(1, pos + 1 + in_b.long(), tokens)  # A shifted by [CLS]; B by [CLS] and the middle [SEP]
    type_ids = (torch.arange(L + 3).expand(B, -1) > split + 1).long()  # segment B: after the middle [SEP]
    return out, type_ids, is_random.long()


def mlm_nsp_corruption(special: SpecialIds):
    """The :class:`~lmforge.objectives.batches.CorruptedWindows` corruption for BERT pretraining."""
    def corrupt(windows: torch.Tensor, generator: torch.Generator) -> MLMBatch:
        ids, type_ids, nsp = make_pairs(windows, special, generator)
        maskable = ids < special.text_vocab  # never mask [CLS] / [SEP]
        inputs, labels = mlm_mask(ids, special.mask, special.text_vocab, generator, maskable)
        return inputs, type_ids, labels, nsp
    return corrupt


def full_text_mlm_corruption(special: SpecialIds):
    """RoBERTa's batches: ``[CLS] window [SEP]`` (``<s> ... </s>``), no second segment and no NSP label,
    15% masked afresh each time a window is read (dynamic masking). -> (inputs, labels), both (B, L+2)."""
    def corrupt(windows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        B = windows.shape[0]
        ids = torch.cat([windows.new_full((B, 1), special.cls), windows, windows.new_full((B, 1), special.sep)], 1)
        return mlm_mask(ids, special.mask, special.text_vocab, generator, ids < special.text_vocab)
    return corrupt


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over the masked positions only. logits (B, T, V), labels (B, T)."""
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)


def mlm_nsp_loss(model: nn.Module, batch: MLMBatch) -> torch.Tensor:
    """BERT pretraining loss: MLM + NSP cross-entropies (``model`` is a :class:`~lmforge.models.bert.Bert`)."""
    inputs, type_ids, labels, nsp = batch
    hidden = model(inputs, type_ids)  # (B, T, C)
    nsp_logits = model.nsp_logits(model.pool(hidden))  # (B, 2)
    return masked_lm_loss(model.mlm_logits(hidden), labels) + F.cross_entropy(nsp_logits.float(), nsp)


def masked_lm_only_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """MLM without a sentence-pair task (RoBERTa, DeBERTa; batches from :func:`full_text_mlm_corruption`,
    :func:`~lmforge.objectives.masking.mlm_mask`):
    ``model(inputs)`` gives hidden states and ``model.mlm_logits`` scores the vocabulary."""
    inputs, labels = batch
    return masked_lm_loss(model.mlm_logits(model(inputs)), labels)
