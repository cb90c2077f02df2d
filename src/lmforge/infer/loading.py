"""Open a model directory: the model (``models.registry.load_model``), checked for what the caller
needs, and the ``tokenizer.json`` trained with it. Every command and the server load through here,
so a directory that cannot do what was asked is refused in one line, before anything runs."""

from __future__ import annotations

from pathlib import Path

import torch

from lmforge.errors import ConfigError
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.speculative import SpeculativeEngine, make_draft
from lmforge.models.base import Capability, ModelBase
from lmforge.models.registry import load_model
from lmforge.tokenizers import Tokenizer, load_tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE


def load_model_dir(model_dir: str | Path, *any_of: Capability,
                   device: torch.device | None = None) -> tuple[ModelBase, Tokenizer]:
    """The model (on ``device``; None: CPU, where it loads) and its tokenizer; with ``any_of``, a model that has
    none of those capabilities is refused."""
    model_dir = Path(model_dir)
    model = load_model(model_dir)
    if any_of:
        model.require(model_dir, *any_of)
    if device is not None:
        model.to(device)  # engines, caches and samplers follow the weights' device
    if not (model_dir / TOKENIZER_FILE).is_file():
        raise ConfigError(f"{model_dir}: no {TOKENIZER_FILE} next to the model; copy the tokenizer it was trained with")
    return model, load_tokenizer(model_dir / TOKENIZER_FILE)


def load_for_generation(model_dir: str | Path, device: torch.device | None = None, draft: str | None = None,
                        draft_k: int = 4) -> tuple[GenerationEngine, Tokenizer]:
    """A decoder-only LM on ``device``, ready to sample or chat with (an encoder or encoder-decoder is refused);
    with a ``draft`` spec (``infer.speculative.make_draft``), a speculative engine checking ``draft_k`` per pass."""
    model, tokenizer = load_model_dir(model_dir, Capability.GENERATE, device=device)
    if draft is None:
        return GenerationEngine(model), tokenizer
    return SpeculativeEngine(model, make_draft(model, draft), draft_k), tokenizer
