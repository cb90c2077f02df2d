"""lmforge GPT model directory -> an ONNX graph (``input_ids`` (B, T) -> ``logits`` (B, T, V)).

For runtimes without Python (onnxruntime, browsers, phones). The graph is the full forward pass
without a KV cache, with the batch and sequence axes left dynamic. It is traced with the TorchScript
exporter (``torch.onnx.export(dynamo=False)``: the newer ``torch.export`` path stops at the position
table's range check, which reads a tensor value); the blocks switch to the step-by-step reference
attention first, the same math as the fused kernel, because the tracer cannot pass SDPA's
grouped-query flag.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch

from lmforge.errors import ConfigError
from lmforge.models.registry import load_model

FAMILIES = ("gpt",)


def export_onnx(model_dir: str | Path, out: str | Path) -> None:
    """Write ``model_dir``'s model as the ONNX file ``out``."""
    model_dir, out = Path(model_dir), Path(out)
    model = load_model(model_dir)
    if model.family not in FAMILIES or getattr(model, "quantization", None):
        raise ConfigError(f"{model_dir}: ONNX export covers float gpt models "
                          f"(this is a {model.family!r} model{', quantized' if model.family in FAMILIES else ''})")
    traced = copy.deepcopy(model).eval()
    for block in traced.blocks:
        block.attn.impl = "reference"
    example = torch.zeros(1, min(8, model.context_length), dtype=torch.long)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(traced, (example,), str(tmp), input_names=["input_ids"], output_names=["logits"],
                              dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                            "logits": {0: "batch", 1: "sequence"}}, dynamo=False)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
