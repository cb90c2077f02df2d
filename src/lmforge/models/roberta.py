"""RoBERTa: BERT, pretrained better ("A Robustly Optimized BERT Pretraining Approach", Liu et al. 2019).

The network is BERT's (:class:`~lmforge.models.bert.Bert`): what changed is how it is
trained, and two details of the inputs.

- **No next-sentence prediction.** The paper found NSP did not help (or hurt) once inputs
  are full contiguous text, so there is no pair head and no pooler: only the MLM head, and
  one token type (``type_vocab_size=1``).
- **Dynamic masking.** BERT masked each sequence once while preparing the data; RoBERTa draws
  a fresh mask every time a sequence is read (lmforge's ``CorruptedWindows`` always does so).
- **Byte-level BPE** (GPT-2's, 50k tokens) instead of WordPiece: no unknown token, ever.
- **Positions start after the padding id**, a fairseq inheritance: real token t sits at
  table row ``pad_id + 1 + t`` and pads at row ``pad_id``, counted per row from the ids
  (:meth:`Roberta.positions`), so the table has ``context_length + pad_id + 1`` rows.

Loads and exports HF ``RobertaForMaskedLM`` / ``RobertaModel`` (``interop/hf_roberta.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmforge.errors import ConfigError
from lmforge.models.bert import Bert, BertConfig

FAMILY = "roberta"


@dataclass
class RobertaConfig(BertConfig):
    vocab_size: int = 50265
    context_length: int = 512  # real tokens; HF's max_position_embeddings is this + pad_id + 1
    type_vocab_size: int = 1
    layer_norm_eps: float = 1e-5
    pad_id: int = 1
    pooler: bool = False
    pair_head: bool = False  # no next-sentence prediction

    def validate(self) -> None:
        super().validate()
        if self.pair_head:
            raise ConfigError("RobertaConfig.pair_head: RoBERTa has no next-sentence head (use the bert family)")

    @property
    def position_rows(self) -> int:
        return self.context_length + self.pad_id + 1


class Roberta(Bert):
    family = FAMILY
    config_class = RobertaConfig

    def positions(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, E): real tokens numbered from ``pad_id + 1`` in order, pads at ``pad_id``."""
        if ids.shape[1] > self.config.context_length:
            raise ValueError(f"{ids.shape[1]} tokens exceed the context length {self.config.context_length}")
        real = ids.ne(self.config.pad_id).long()
        return self.pos_emb.table(real.cumsum(1) * real + self.config.pad_id)
