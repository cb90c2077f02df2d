"""LoRA: low-rank adapters on frozen linear layers (Hu et al., 2021).

A frozen weight W (out, in) gets a trainable low-rank update::

    y = W x + b + (alpha / r) * B (A dropout(x))       A: (r, in), B: (out, r), r << min(in, out)

B starts at zero, so the adapted model starts exactly equal to the base model; A starts random
(Kaiming-uniform, as in ``peft``) so that gradients reach B from step one. Only A and B train:
r * (in + out) numbers per layer instead of in * out. After training, the update can be *merged*
into W (``W += (alpha / r) B A``) so inference costs nothing extra, and *unmerged* again.

Module and parameter names follow ``peft`` (``base_layer``, ``lora_A``, ``lora_B``) so the
adapter maps one-to-one onto a ``peft`` adapter for the Hugging Face twin of the model
(see :mod:`lmforge.peft.hf_format`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.peft.modules import replace_module
from lmforge.peft.nf4 import NF4Linear


@dataclass
class LoraConfig:
    """Which layers get adapters and how big they are.

    ``target_modules`` are regular expressions matched (``re.fullmatch``) against the *last* part of a
    module's name (``qkv``, ``proj``, ``up``, ``down`` in lmforge's GPT) or, when they contain a dot,
    against the full dotted name (``blocks\\.[0-3]\\.attn\\.qkv``).
    """

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: ["qkv"])

    def validate(self) -> None:
        if self.r <= 0:
            raise ConfigError(f"LoRA rank r must be positive, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            raise ConfigError("LoRA target_modules is empty: name at least one layer pattern (e.g. qkv)")

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    def matches(self, name: str) -> bool:
        leaf = name.rsplit(".", 1)[-1]
        return any(re.fullmatch(p, name if "." in p else leaf) for p in self.target_modules)


class LoraLinear(nn.Module):
    """A frozen linear layer (``nn.Linear`` or :class:`~lmforge.peft.nf4.NF4Linear`) plus a LoRA update."""

    def __init__(self, base_layer: nn.Module, r: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.in_features, self.out_features = base_layer.in_features, base_layer.out_features
        self.r, self.alpha, self.scaling = r, alpha, alpha / r
        device = next(iter(base_layer.state_dict().values())).device
        self.lora_A = nn.Linear(self.in_features, r, bias=False, device=device)
        self.lora_B = nn.Linear(r, self.out_features, bias=False, device=device)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.merged = False
        self.reset_lora()

    def reset_lora(self) -> None:
        """A ~ Kaiming-uniform (like ``nn.Linear`` and ``peft``), B = 0: the update starts at exactly zero."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> torch.Tensor:
        """The update as a dense matrix, (out, in) = scaling * B (out, r) @ A (r, in)."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        y = self.base_layer(x)
        if self.merged:
            return y
        return y + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def merge(self) -> None:
        """Fold the update into the base weight: one matmul per layer at inference again."""
        if self.merged:
            return
        if not isinstance(self.base_layer, nn.Linear):
            raise ConfigError("merging into a quantized base layer would re-quantize it; dequantize first "
                              "(use merge_and_unload, which returns full-precision layers)")
        with torch.no_grad():
            self.base_layer.weight += self.delta_weight().to(self.base_layer.weight.dtype)
        self.merged = True

    def unmerge(self) -> None:
        """Undo :meth:`merge` (exact up to floating-point rounding)."""
        if not self.merged:
            return
        with torch.no_grad():
            self.base_layer.weight -= self.delta_weight().to(self.base_layer.weight.dtype)
        self.merged = False

    def merged_linear(self) -> nn.Linear:
        """A plain ``nn.Linear`` holding W + scaling * B A (the base layer is dequantized if needed)."""
        base = self.base_layer
        weight = base.weight if isinstance(base, nn.Linear) else base.dequantize()
        out = nn.Linear(self.in_features, self.out_features, bias=base.bias is not None, device=weight.device)
        with torch.no_grad():
            delta = 0 if self.merged else self.delta_weight()
            out.weight.copy_(weight + delta)
            if base.bias is not None:
                out.bias.copy_(base.bias)
        return out


def apply_lora(model: nn.Module, config: LoraConfig) -> list[str]:
    """Freeze every parameter of ``model`` and wrap the matching linear layers in :class:`LoraLinear`.

    Returns the wrapped module names. Raises when no layer matches (a typo would otherwise train nothing).
    """
    config.validate()
    for p in model.parameters():
        p.requires_grad_(False)
    names = [name for name, m in model.named_modules()
             if isinstance(m, (nn.Linear, NF4Linear)) and config.matches(name)]
    if not names:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ConfigError(f"LoRA target_modules {config.target_modules} match no linear layer; "
                          f"linear layer names in this model: {linear}")
    for name in names:
        replace_module(model, name, LoraLinear(model.get_submodule(name), config.r, config.alpha, config.dropout))
    return names


def lora_layers(model: nn.Module) -> dict[str, LoraLinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoraLinear)}


def merge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    for layer in lora_layers(model).values():
        layer.unmerge()


def merge_and_unload(model: nn.Module) -> nn.Module:
    """Replace every adapter by a plain linear layer holding the merged weight; the model is then an
    ordinary lmforge model again (its state dict loads with :func:`lmforge.models.registry.load_model`)."""
    for name, layer in lora_layers(model).items():
        replace_module(model, name, layer.merged_linear())
    for p in model.parameters():
        p.requires_grad_(True)
    return model


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the adapter tensors, keyed ``<module>.lora_A.weight`` / ``<module>.lora_B.weight``."""
    return {f"{name}.{part}.weight": getattr(layer, part).weight.detach().contiguous()
            for name, layer in lora_layers(model).items() for part in ("lora_A", "lora_B")}


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts, each tensor counted once (tied weights share one)."""
    seen: dict[int, nn.Parameter] = {}
    for p in model.parameters():
        seen.setdefault(id(p), p)
    total = sum(p.numel() for p in seen.values())
    total += sum(m.num_quantized for m in model.modules() if isinstance(m, NF4Linear))
    return sum(p.numel() for p in seen.values() if p.requires_grad), total
