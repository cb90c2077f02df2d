"""``lmforge quantize``: a float GPT/Llama model directory -> the same model with int8 or int4 weights.

The quantized modules and their kernels live in :mod:`lmforge.models.blocks.quantized` (so the one
model loader rebuilds them from ``config.json``'s ``"quantization"`` entry and every command —
sample, chat, serve, eval — runs the result unchanged); this module checks the request, quantizes
and writes the directory. Every check runs before anything is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from torch import nn

from lmforge.errors import ConfigError
from lmforge.interop.convert import TOKENIZER_FILES
from lmforge.models.blocks.quantized import GROUP_SIZES, METHODS, quantize_modules
from lmforge.models.registry import CONFIG_FILE, load_model, save_model

FAMILIES = ("gpt", "llama")


def quantization_spec(method: str, group_size: int | None = None, head: str | None = None,
                      device: str = "cpu") -> dict[str, Any]:
    """The ``"quantization"`` entry of config.json, checked. ``head`` (default: int8) quantizes the LM
    head and the (tied) embedding: int8 there under an int4 body keeps the largest matrix's error small."""
    if method not in METHODS or (head or "int8") not in METHODS:
        raise ConfigError(f"--method/--head must be one of {METHODS}, got {method!r}/{head!r}")
    if device != "cpu":
        raise ConfigError(f"{method} weights run through CPU-only kernels (aten._weight_int8pack_mm, "
                          f"_weight_int4pack_mm_for_cpu); --device {device} has none: use --device cpu")
    head = head or "int8"
    uses_int4 = "int4" in (method, head)
    if not uses_int4 and group_size is not None:
        raise ConfigError("--group-size applies to int4 only (int8 keeps one scale per output row)")
    if uses_int4 and group_size is None:
        group_size = 32
    if group_size is not None and group_size not in GROUP_SIZES:
        raise ConfigError(f"--group-size must be one of {GROUP_SIZES}, got {group_size}")
    return {"method": method, "group_size": group_size, "head": head}


def check_quantizable(model: nn.Module, spec: dict[str, Any], source: str) -> None:
    """Refuse what cannot be quantized, in one line naming ``source`` and the reason."""
    if model.family not in FAMILIES:
        raise ConfigError(f"{source}: a {model.family!r} model cannot be quantized (supported: {', '.join(FAMILIES)})")
    if getattr(model, "quantization", None):
        raise ConfigError(f"{source} is already quantized ({model.quantization['method']}); "
                          f"quantize the float model it came from")
    g = spec["group_size"]
    if g is not None:
        widths = sorted({m.in_features for m in model.modules() if isinstance(m, nn.Linear)})
        bad = [w for w in widths if w % g]
        if bad:
            fits = [s for s in GROUP_SIZES if all(w % s == 0 for w in widths)]
            raise ConfigError(f"{source}: int4 group size {g} does not divide the input width(s) {bad} of its "
                              f"linear layers (group sizes that fit: {fits or 'none'})")


def quantize_model(model: nn.Module, spec: dict[str, Any], source: str = "model") -> nn.Module:
    """Quantize ``model`` in place (after :func:`check_quantizable`) and return it."""
    check_quantizable(model, spec, source)
    quantize_modules(model, spec)
    return model.eval()


def quantize_model_dir(model_dir: str | Path, out_dir: str | Path, spec: dict[str, Any]) -> nn.Module:
    """Read a model directory, quantize it, write ``out_dir`` (config, weights, tokenizer files)."""
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if (out_dir / CONFIG_FILE).exists():
        raise ConfigError(f"{out_dir} already holds a model; choose a new --out directory")
    model = quantize_model(load_model(model_dir), spec, str(model_dir))
    save_model(model, out_dir)
    for name in TOKENIZER_FILES:
        if (model_dir / name).is_file():
            shutil.copyfile(model_dir / name, out_dir / name)
    return model
