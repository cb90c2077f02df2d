"""Packed weights for decoding on a CPU: every ``nn.Linear`` re-laid out once, in oneDNN's blocked format.

Why: a decoding step multiplies a handful of rows (one per sequence, or the k + 1 tokens a speculative pass
checks) by every weight matrix, so it is bound by how fast the weights stream from memory. ``F.linear`` hands
such a product to a general matrix kernel that reads the (out, in) matrix as stored; for a few rows that kernel
is far from the memory's speed, and it gets *slower* per call from 1 row to 2-3 rows. oneDNN, given the weight
once in advance (``torch.ops.mkldnn._reorder_linear_weight``), stores it in blocks laid out for its own
inner loop and then reads it at close to full speed for any number of rows. Measured on SmolLM2-135M
(fp32, 2-core AVX-512 EPYC, 100 cached tokens): one decoding step 58 -> 41 ms; a pass over 5 new tokens
(speculative verification) 76 -> 39 ms, the same as one token; 8 rows 74 -> 48 ms.

The result equals ``F.linear``'s to fp32 rounding (another summation order), not bit for bit. The packed
tensor is opaque: it cannot be read, trained, moved to another device or saved, so packing is done by the
decoding entry points (``infer.loading``, the server) on a model that will only decode, and never by a model
family itself. Embeddings are not packed (a lookup reads one row), so a head tied to the token embedding gets
its own packed copy: SmolLM2's 113 MB more memory for a 2x faster head.
"""

from __future__ import annotations

import torch
from torch import nn

from lmforge.devices import module_device

#: smaller matrices stay plain: they sit in the CPU's cache, where ``F.linear`` is already fast, and oneDNN's call
#: costs a fixed ~20 us more (a 128x128 matrix times one row: 13 us plain, 25 us packed; 576x192: 44 vs 40 us).
#: The quickstart GPT (0.8M parameters) therefore decodes unpacked: packed, one request got 281 tok/s against 506.
MIN_PACKED_WEIGHTS = 100_000


class PackedLinear(nn.Module):
    """``y = x W^T + b`` with ``W`` pre-packed for oneDNN. ``x``: (..., in_features) -> (..., out_features)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach()),
                                 persistent=False)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def can_pack(model: nn.Module) -> bool:
    """True where packing applies: the weights on the CPU, in fp32 (or bf16 where the CPU multiplies bf16
    natively: elsewhere oneDNN would emulate it), and a PyTorch built with oneDNN."""
    if module_device(model).type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    dtype = next(model.parameters()).dtype
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return dtype == torch.float32


def pack_linears(model: nn.Module, min_weights: int | None = None) -> int:
    """Replace every ``nn.Linear`` of ``model`` with at least ``min_weights`` weights (default
    :data:`MIN_PACKED_WEIGHTS`) by a :class:`PackedLinear`, in place; returns how many were packed.

    ``model`` then only decodes: call it in ``torch.inference_mode`` or ``no_grad``. Quantized layers and other
    modules keep their own kernels. Does nothing where :func:`can_pack` is False.
    """
    if not can_pack(model):
        return 0
    smallest = MIN_PACKED_WEIGHTS if min_weights is None else min_weights
    targets = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if type(child) is nn.Linear and child.weight.numel() >= smallest]
    if targets:
        model.requires_grad_(False)
    packed: dict[int, PackedLinear] = {}  # a layer reachable from two parents is packed once
    for parent, name, child in targets:
        if id(child) not in packed:
            packed[id(child)] = PackedLinear(child)
        setattr(parent, name, packed[id(child)])
    return len(packed)
