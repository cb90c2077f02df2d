"""Open a model directory for generation: model + tokenizer + engine."""

from __future__ import annotations

from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.infer.engine import GenerationEngine
from lmforge.models.registry import load_model
from lmforge.tokenizers import Tokenizer, load_tokenizer


def load_for_generation(model_dir: str | Path) -> tuple[GenerationEngine, Tokenizer]:
    model_dir = Path(model_dir)
    model = load_model(model_dir)
    if not (model_dir / "tokenizer.json").is_file():
        raise ConfigError(f"{model_dir}: no tokenizer.json next to the model; copy the tokenizer it was trained with")
    return GenerationEngine(model), load_tokenizer(model_dir / "tokenizer.json")
