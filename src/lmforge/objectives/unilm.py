"""UniLM pretraining: three cloze objectives trained at once, mixed row by row.

Every row is ``[CLS] A [SEP] B [SEP]`` cut from contiguous text (B always follows A: there is no
next-sentence task) with 15% of the tokens masked (:func:`~lmforge.objectives.masking.mlm_mask`).
Each row then draws its objective, with probabilities ``fractions``:

- bidirectional: predict a masked token from both sides (BERT);
- left-to-right: from the tokens before it (and its own ``[MASK]``), as a GPT would;
- seq2seq: from all of ``[CLS] A [SEP]`` and the part of ``B [SEP]`` before it.

The loss is one masked-LM cross-entropy over every masked token of the batch, so the mix of
objectives is the mix of rows; the paper uses 1/3 bidirectional, 1/3 seq2seq, 1/3 unidirectional
(split between left-to-right and right-to-left, which lmforge leaves out).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.objectives.masking import SpecialIds, mlm_mask
from lmforge.objectives.mlm import make_pairs, masked_lm_loss

UniLMBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
PAPER_FRACTIONS = (1 / 3, 1 / 3, 1 / 3)  # bidirectional, left-to-right, seq2seq (models.unilm.MODES)


def unilm_corruption(special: SpecialIds, fractions: Sequence[float] = PAPER_FRACTIONS):
    """The :class:`~lmforge.objectives.batches.CorruptedWindows` corruption: windows (B, L) ->
    (inputs, token types, labels) (B, L+3), each row's mode (B,) and source length (B,)."""
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ConfigError(f"UniLM needs three non-negative objective fractions, got {list(fractions)}")
    weights = torch.tensor(fractions, dtype=torch.float)

    def corrupt(windows: torch.Tensor, generator: torch.Generator) -> UniLMBatch:
        ids, type_ids, _ = make_pairs(windows, special, generator, random_fraction=0.0)
        source_len = (type_ids == 0).sum(1)  # [CLS] A [SEP]
        modes = torch.multinomial(weights, windows.shape[0], replacement=True, generator=generator)
        inputs, labels = mlm_mask(ids, special.mask, special.text_vocab, generator, ids < special.text_vocab)
        return inputs, type_ids, labels, modes, source_len
    return corrupt


def unilm_loss(model: nn.Module, batch: UniLMBatch) -> torch.Tensor:
    """Masked-LM cross-entropy with each row under its own attention mask (``model``: a UniLM)."""
    inputs, type_ids, labels, modes, source_len = batch
    hidden = model(inputs, type_ids, modes=modes, source_len=source_len)  # (B, T, C)
    return masked_lm_loss(model.mlm_logits(hidden), labels)
