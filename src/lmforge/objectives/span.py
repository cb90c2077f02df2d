"""T5 pretraining: span corruption (see :mod:`lmforge.objectives.masking` for the format).

The encoder reads the text with ~15% of it dropped in spans of mean length 3,
each span replaced by a sentinel; the decoder must write out the sentinels and
the dropped tokens. Targets are short (~15% of the input plus the sentinels),
which makes this objective cheaper per input token than causal LM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.objectives.masking import SpecialIds, random_spans_noise_mask, span_corrupt

SpanBatch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def span_corruption(special: SpecialIds, decoder_start_id: int, noise_density: float = 0.15,
                    mean_span_length: float = 3.0):
    """The corruption for :class:`~lmforge.objectives.batches.CorruptedWindows`: windows (B, L) ->
    ``(encoder inputs, decoder inputs, targets)``; decoder inputs are the targets shifted right."""
    sentinels = [special.sentinel(k) for k in range(special.n_sentinels)]

    def corrupt(windows: torch.Tensor, generator: torch.Generator) -> SpanBatch:
        pairs = [
            span_corrupt(row, random_spans_noise_mask(len(row), generator, noise_density, mean_span_length), sentinels)
            for row in windows
        ]
        inputs = torch.stack([p[0] for p in pairs])  # same length for every row (see span_counts)
        targets = torch.stack([p[1] for p in pairs])
        start = torch.full((len(targets), 1), decoder_start_id, dtype=targets.dtype)
        return inputs, torch.cat([start, targets[:, :-1]], dim=1), targets
    return corrupt


def span_loss(model: nn.Module, batch: SpanBatch) -> torch.Tensor:
    """Cross-entropy of the decoder's predictions of the targets (``model`` is a :class:`~lmforge.models.t5.T5`)."""
    inputs, decoder_inputs, targets = batch
    logits = model(inputs, decoder_inputs)  # (B, T_target, V)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
