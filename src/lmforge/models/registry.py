"""Save and load model directories: ``config.json`` + ``model.safetensors``.

A model directory is what every command takes as MODEL_DIR. ``config.json``
names the family, so loading needs no guessing from names or shapes.
"""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import atomic_write, read_json, read_safetensors, write_json
from lmforge.models.bert import Bert
from lmforge.models.bigram import BigramLM
from lmforge.models.blocks.quantized import quantized_layout
from lmforge.models.config import config_from_dict, config_to_dict
from lmforge.models.deberta import Deberta
from lmforge.models.electra import Electra
from lmforge.models.gpt import GPT
from lmforge.models.llama import Llama
from lmforge.models.mlp_lm import MLPLM
from lmforge.models.recurrent_lm import GRULM, LSTMLM, RNNLM
from lmforge.models.reformer import Reformer
from lmforge.models.roberta import Roberta
from lmforge.models.seq2seq import Seq2Seq
from lmforge.models.t5 import T5
from lmforge.models.unilm import UniLM
from lmforge.models.xlnet import XLNet

FAMILIES: dict[str, type[nn.Module]] = {GPT.family: GPT}
FAMILIES.update({cls.family: cls for cls in (Llama, Bert, T5)})  # issue 4: Transformer families
FAMILIES.update({cls.family: cls for cls in (BigramLM, MLPLM, RNNLM, LSTMLM, GRULM)})
FAMILIES[Seq2Seq.family] = Seq2Seq
FAMILIES[Electra.family] = Electra  # a pretraining run's generator + discriminator pair (one directory)
FAMILIES[Deberta.family] = Deberta  # issue 23: disentangled attention
FAMILIES[XLNet.family] = XLNet  # issue 23: permutation LM, two-stream attention
FAMILIES[Reformer.family] = Reformer  # issue 23: LSH attention
FAMILIES[Roberta.family] = Roberta  # issue 23
FAMILIES[UniLM.family] = UniLM  # issue 23: one encoder, three attention masks

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def save_model(model: nn.Module, directory: str | Path) -> None:
    """Write the model's config and weights (each file atomically)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = config_to_dict(model.config, model.family)
    if getattr(model, "quantization", None):  # int8/int4 weights (models/blocks/quantized.py): say how to rebuild
        config["quantization"] = model.quantization
    write_json(directory / CONFIG_FILE, config)
    with atomic_write(directory / WEIGHTS_FILE, "wb") as f:
        f.write(safetensors.torch.save(unique_state_dict(model), metadata={"format": "pt"}))


def unique_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with tied tensors stored once (safetensors refuses shared memory)."""
    seen: set[int] = set()
    out = {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        out[name] = tensor.contiguous()
    return out


def load_weights(model: nn.Module, path: Path) -> None:
    """Load a safetensors file into ``model``."""
    load_state(model, read_safetensors(path, "model weights"), str(path))


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``; any mismatch is an error that lists the tensor names."""
    expected = unique_state_dict(model)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    wrong_shape = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong_shape:
        raise ConfigError(f"{source}: weights do not match the config (missing: {missing[:5]}, "
                          f"unexpected: {unexpected[:5]}, wrong shape: {wrong_shape[:5]})")
    model.load_state_dict(state, strict=False)


def build_model(config_dict: dict, source: str = CONFIG_FILE) -> nn.Module:
    """Instantiate the family named in ``config_dict`` with random weights."""
    family = config_dict.get("family")
    if family not in FAMILIES:
        raise ConfigError(f"{source}: unknown model family {family!r}; known families: {sorted(FAMILIES)}")
    cls = FAMILIES[family]
    return cls(config_from_dict(cls.config_class, config_dict, source))


def load_model(directory: str | Path) -> nn.Module:
    """Load a model directory written by :func:`save_model` (or a training run's output)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"model directory not found: {directory}")
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise ConfigError(
            f"{directory} is not an lmforge model directory: expected {CONFIG_FILE} and {WEIGHTS_FILE} in it"
        )
    config = read_json(config_path, "model config")
    quantization = config.pop("quantization", None) if isinstance(config, dict) else None
    model = build_model(config, str(config_path))
    if quantization is not None:
        quantized_layout(model, quantization, str(config_path))
    load_weights(model, weights_path)
    return model.eval()
