"""Task heads on a pretrained backbone: one linear layer over the backbone's hidden states.

``TaskModel = backbone (GPT or BERT/MiniLM) + head``; the head's input depends on the task:

- sequence classification, ``pooling="last"`` (GPT): the hidden state of the *last real
  token*. Under causal attention it is the only position that has seen the whole text
  (LLMs-from-scratch ch. 6 uses the same one).
- ``pooling="cls"`` (BERT): the ``[CLS]`` position, which attends to everything in both
  directions; ``pooling="mean"``: the average over real tokens (what sentence-transformers
  trained MiniLM for).
- token classification / QA (``pooling="none"``): one output per token; QA has two
  (start and end logits).
- reward model (``task="reward"``, one label): one score per text, read at the last real token of a
  causal LM like a classifier's (see :mod:`lmforge.objectives.reward`).

The backbone is reused unchanged, only without its language-model head, so every weight
it learned in pretraining is fine-tuned from where it was. A ``TaskModel`` saves like any
model (``config.json`` with ``"family": "task"`` + ``model.safetensors``), which is what
the one :class:`~lmforge.train.trainer.Trainer` writes at every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import read_json
from lmforge.models.config import config_from_dict, config_to_dict
from lmforge.models.registry import CONFIG_FILE, WEIGHTS_FILE, build_model, load_weights

FAMILY = "task"
Pooling = Literal["last", "cls", "mean", "none"]

# family -> (backbone without LM head, how to get hidden states (B, T, C) from it, its width C)
Encoder = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
_ENCODERS: dict[str, tuple[Callable[[nn.Module], None], Encoder, Callable[[nn.Module], int]]] = {}


def register_encoder(family: str, strip: Callable[[nn.Module], None], encode: Encoder,
                     width: Callable[[nn.Module], int]) -> None:
    """Teach task heads a backbone family: how to remove its LM head and read its hidden states."""
    _ENCODERS[family] = (strip, encode, width)


def _strip_causal(lm: nn.Module) -> None:
    lm.lm_head = nn.Identity()  # forward() then ends with the final norm: (B, T, C)


def _encode_causal(lm: nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                   type_ids: torch.Tensor | None) -> torch.Tensor:
    # causal attention: padding to the right of a text cannot change that text's positions
    return lm(ids)


def _encode_bert(bert: nn.Module, ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None) -> torch.Tensor:
    return bert(ids, token_type_ids=type_ids, attention_mask=mask)  # forward() already ends at hidden states


register_encoder("gpt", _strip_causal, _encode_causal, lambda m: m.config.d_model)
register_encoder("llama", _strip_causal, _encode_causal, lambda m: m.config.d_model)
register_encoder("bert", lambda m: None, _encode_bert, lambda m: m.config.d_model)


@dataclass
class TaskConfig:
    backbone: dict  # the backbone's own config.json content, "family" included
    task: Literal["classify", "token", "qa", "reward"]
    labels: list[str] = field(default_factory=list)  # class / tag names; QA: ["start", "end"]; reward: ["reward"]
    pooling: Pooling = "none"
    dropout: float = 0.1

    def validate(self) -> None:
        if self.backbone.get("family") not in _ENCODERS:
            raise ConfigError(f"task heads support backbones of family {sorted(_ENCODERS)}, "
                              f"got {self.backbone.get('family')!r}")
        pooled = self.task in ("classify", "reward")
        if pooled and self.pooling == "none":
            raise ConfigError(f"task {self.task!r} scores whole texts: pooling must be 'last', 'cls' or 'mean'")
        if not pooled and self.pooling != "none":
            raise ConfigError(f"task {self.task!r} predicts per token: pooling must be 'none'")
        if self.task == "reward" and len(self.labels) != 1:
            raise ConfigError(f"a reward model has one output, got labels {self.labels}")
        if self.task != "reward" and len(self.labels) < 2:
            raise ConfigError(f"need at least two labels, got {self.labels}")


class TaskModel(nn.Module):
    family = FAMILY

    def __init__(self, config: TaskConfig, backbone: nn.Module | None = None) -> None:
        super().__init__()
        config.validate()
        self.config = config
        strip, self._encode, width = _ENCODERS[config.backbone["family"]]
        self.backbone = backbone if backbone is not None else build_model(config.backbone, "task backbone")
        strip(self.backbone)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(width(self.backbone), len(config.labels))
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """ids, mask, segment ids (B, T) (mask 1 = real token) -> logits (B, n_labels) or, per token,
        (B, T, n_labels)."""
        h = self._encode(self.backbone, ids, mask, type_ids)  # (B, T, C)
        pooling = self.config.pooling
        if pooling == "last":
            last = mask.sum(dim=1) - 1  # index of each row's last real token
            h = h[torch.arange(h.shape[0], device=h.device), last]  # (B, C)
        elif pooling == "cls":
            h = h[:, 0]
        elif pooling == "mean":
            m = mask.unsqueeze(-1).to(h.dtype)
            h = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
        return self.head(self.drop(h))


def load_task_model(directory: str | Path) -> TaskModel:
    """Load a fine-tuned task model directory (what ``lmforge finetune`` writes)."""
    directory = Path(directory)
    if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
        raise ConfigError(f"{directory} is not a fine-tuned task model: expected {CONFIG_FILE} and {WEIGHTS_FILE}")
    data = read_json(directory / CONFIG_FILE, "task model config")
    if data.get("family") != FAMILY:
        raise ConfigError(f"{directory / CONFIG_FILE}: family {data.get('family')!r} is not a fine-tuned task "
                          "model (expected 'task'; fine-tune one with `lmforge finetune ...`)")
    model = TaskModel(config_from_dict(TaskConfig, data, str(directory / CONFIG_FILE)))
    load_weights(model, directory / WEIGHTS_FILE)
    return model.eval()


def backbone_config(model: nn.Module) -> dict:
    return config_to_dict(model.config, model.family)
