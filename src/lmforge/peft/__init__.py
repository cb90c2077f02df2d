"""Parameter-efficient fine-tuning: LoRA adapters, NF4 4-bit base weights (QLoRA), peft-format files."""

from lmforge.peft.lora import (
    LoraConfig,
    LoraLinear,
    apply_lora,
    count_parameters,
    lora_layers,
    lora_state_dict,
    merge_and_unload,
    merge_lora,
    unmerge_lora,
)
from lmforge.peft.nf4 import NF4, NF4Linear, dequantize_nf4, quantize_model, quantize_nf4

__all__ = [
    "NF4",
    "LoraConfig",
    "LoraLinear",
    "NF4Linear",
    "apply_lora",
    "count_parameters",
    "dequantize_nf4",
    "lora_layers",
    "lora_state_dict",
    "merge_and_unload",
    "merge_lora",
    "quantize_model",
    "quantize_nf4",
    "unmerge_lora",
]
