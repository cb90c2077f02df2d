"""UniLM: one Transformer encoder, three language models, chosen by the attention mask alone
("Unified Language Model Pre-training for Natural Language Understanding and Generation",
Dong et al. 2019).

BERT sees both sides of every token, which suits understanding; GPT sees only the left,
which suits generation; an encoder–decoder sees all of a source and the left of a target,
which suits translation and summarisation. UniLM observes that these differ *only* in which
keys each query may attend to, so one set of weights can be all three:

- ``bidirectional``: every token sees every token (BERT);
- ``left_to_right``: token i sees tokens j <= i (GPT);
- ``seq2seq``: the source segment ``[CLS] A [SEP]`` sees itself, both ways; each target token
  sees the whole source and the target up to itself: visible(i, j) = j < source_len or j <= i.

All three are cloze tasks (predict ``[MASK]``ed tokens), trained together in one batch, each
row under its own mask (:mod:`lmforge.objectives.unilm`). The network is BERT's with the MLM
head and no pooler or next-sentence head; :meth:`UniLM.forward` takes the per-row mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmforge.errors import ConfigError
from lmforge.models.bert import Bert, BertConfig

FAMILY = "unilm"
MODES = ("bidirectional", "left_to_right", "seq2seq")  # index = the mode id in batches


def visibility(modes: torch.Tensor, source_len: torch.Tensor, length: int) -> torch.Tensor:
    """Per-row modes (B,) (indices into :data:`MODES`) and source lengths (B,) -> (B, T, T) bool,
    True where query i may attend to key j."""
    i = torch.arange(length, device=modes.device)[:, None]  # queries
    j = torch.arange(length, device=modes.device)[None, :]  # keys
    causal = (j <= i)[None]  # (1, T, T)
    prefix = j[None] < source_len[:, None, None]  # (B, 1, T): the source, visible to everyone
    seq2seq = causal | prefix  # (B, T, T); a source query (i < s) sees j < s only
    mode = modes[:, None, None]
    return torch.where(mode == 0, True, torch.where(mode == 1, causal, seq2seq))


@dataclass
class UniLMConfig(BertConfig):
    pooler: bool = False
    pair_head: bool = False  # cloze tasks only: no next-sentence head

    def validate(self) -> None:
        super().validate()
        if not self.pretraining_heads or self.pair_head or self.pooler:
            raise ConfigError("UniLMConfig: the model is BERT with the MLM head only "
                              "(pretraining_heads=true, pair_head=false, pooler=false)")


class UniLM(Bert):
    family = FAMILY
    config_class = UniLMConfig

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, modes: torch.Tensor | None = None,
                source_len: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states (B, T, C) with each row under its mode (default bidirectional, as BERT);
        ``source_len`` (B,) counts the ``[CLS] A [SEP]`` tokens of seq2seq rows."""
        if modes is None:
            return super().forward(ids, token_type_ids, attention_mask)
        if source_len is None:
            source_len = torch.zeros_like(modes)
        return super().forward(ids, token_type_ids, attention_mask, visibility(modes, source_len, ids.shape[1]))
