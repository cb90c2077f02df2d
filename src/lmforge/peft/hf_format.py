"""Adapters in ``peft``'s on-disk format, for the Hugging Face twin of an lmforge model.

    adapter/
        adapter_config.json         peft_type LORA, r, lora_alpha, target_modules (HF module names), ...
        adapter_model.safetensors   base_model.model.<HF module>.lora_A.weight  (r, in)
                                    base_model.model.<HF module>.lora_B.weight  (out, r)

``peft.PeftModel.from_pretrained(hf_model, "adapter/")`` loads it on the exported HF model.
The module names come from the interop name map, so nothing is guessed from strings. GPT-2's
HF layers are ``Conv1D`` (weights stored transposed), but peft keeps A and B in ``nn.Linear``
layout for them too (``fan_in_fan_out`` only affects merging), so A and B are copied as they are.
"""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import atomic_write, read_json, read_safetensors, write_json
from lmforge.peft.lora import LoraConfig, LoraLinear, apply_lora, lora_layers
from lmforge.peft.nf4 import NF4Linear

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
PREFIX = "base_model.model."


def _hf_tensor_names(model: nn.Module) -> list[tuple[str, tuple[str, ...], bool]]:
    """(lmforge tensor, HF tensor(s), transposed?) from the family's interop name map."""
    family = getattr(model, "family", None)
    if family == "gpt":
        from lmforge.interop.hf_gpt2 import gpt2_name_map

        entries = gpt2_name_map(model.config.n_layers, model.config.tie_embeddings)
    elif family == "llama":
        from lmforge.interop.hf_llama import llama_name_map

        entries = llama_name_map(model.config)
    else:
        raise ConfigError(f"no Hugging Face twin is known for model family {family!r}; peft export supports gpt, llama")
    return [(e.ours, e.hf, e.transpose) if hasattr(e, "ours") else (e[0], (e[1],), e[2]) for e in entries]


def hf_module_map(model: nn.Module) -> tuple[dict[str, str | None], bool]:
    """lmforge linear-module name -> HF module name, and whether HF stores the weights transposed (Conv1D).

    ``None`` marks a fused lmforge layer (Llama's ``qkv``, ``gate_up``) that is several HF layers: a LoRA on
    the fused matrix has no exact peft equivalent, so such adapters cannot be exported.
    """
    linear = {name for name, m in model.named_modules() if isinstance(m, (nn.Linear, LoraLinear, NF4Linear))}
    mapping: dict[str, str | None] = {}
    transposed = False
    for ours, hf, transpose in _hf_tensor_names(model):
        module = ours.removesuffix(".weight")
        if ours.endswith(".weight") and module in linear:
            mapping[module] = hf[0].removesuffix(".weight") if len(hf) == 1 else None
            transposed |= transpose
    return mapping, transposed


def save_peft_adapter(model: nn.Module, config: LoraConfig, out_dir: str | Path,
                      base_model_name_or_path: str | None = None) -> Path:
    """Write the LoRA tensors of ``model`` as a peft adapter for the model's HF twin."""
    out_dir = Path(out_dir)
    module_map, fan_in_fan_out = hf_module_map(model)
    layers = lora_layers(model)
    if not layers:
        raise ConfigError("the model has no LoRA layers to save (apply_lora first)")
    tensors: dict[str, torch.Tensor] = {}
    for name, layer in layers.items():
        if module_map.get(name) is None:
            exportable = sorted(k for k, v in module_map.items() if v is not None)
            raise ConfigError(f"LoRA layer {name!r} has no single Hugging Face counterpart (fused or unknown), so "
                              f"peft cannot hold it; target these instead: {exportable[:6]}...")
        for part in ("lora_A", "lora_B"):
            tensors[f"{PREFIX}{module_map[name]}.{part}.weight"] = getattr(layer, part).weight.detach().contiguous()
    hf_targets = sorted(module_map[name] for name in layers)
    write_json(out_dir / CONFIG_FILE, {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model_name_or_path,
        "r": config.r,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": hf_targets,
        "fan_in_fan_out": fan_in_fan_out,
        "bias": "none",
        "inference_mode": True,
    })
    with atomic_write(out_dir / WEIGHTS_FILE, "wb") as f:
        f.write(safetensors.torch.save(tensors, metadata={"format": "pt"}))
    return out_dir


def load_peft_adapter(model: nn.Module, adapter_dir: str | Path) -> LoraConfig:
    """Wrap ``model`` with the adapter in ``adapter_dir`` (a peft LoRA adapter for its HF twin)."""
    adapter_dir = Path(adapter_dir)
    cfg = read_json(adapter_dir / CONFIG_FILE, "peft adapter config")
    if cfg.get("peft_type") != "LORA":
        raise ConfigError(f"{adapter_dir / CONFIG_FILE}: peft_type is {cfg.get('peft_type')!r}, only LORA is supported")
    weights = adapter_dir / WEIGHTS_FILE
    tensors = read_safetensors(weights, "peft adapter weights")
    to_ours = {hf: ours for ours, hf in hf_module_map(model)[0].items() if hf is not None}
    hf_modules = sorted({k.removeprefix(PREFIX).rsplit(".", 2)[0] for k in tensors})
    unknown = [m for m in hf_modules if m not in to_ours]
    if unknown:
        raise ConfigError(f"{weights}: adapter targets modules this model does not have: {unknown[:5]}")
    ours = [to_ours[m] for m in hf_modules]
    config = LoraConfig(r=cfg["r"], alpha=cfg["lora_alpha"], dropout=cfg.get("lora_dropout", 0.0),
                        target_modules=[n.replace(".", r"\.") for n in ours])
    apply_lora(model, config)
    layers = lora_layers(model)
    with torch.no_grad():
        for hf_name, our_name in zip(hf_modules, ours, strict=True):
            for part in ("lora_A", "lora_B"):
                src = tensors[f"{PREFIX}{hf_name}.{part}.weight"]
                dst = getattr(layers[our_name], part).weight
                if src.shape != dst.shape:
                    raise ConfigError(f"{weights}: {hf_name}.{part} has shape {tuple(src.shape)}, "
                                      f"the model needs {tuple(dst.shape)}")
                dst.copy_(src)
    return config
