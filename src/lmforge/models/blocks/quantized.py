"""Weight-only quantized linear layers (int8 and int4) and the embedding that shares their rows.

Generating one token reads every weight once; on a CPU that read, not the arithmetic, sets the
speed. Storing weights in fewer bits is the way past that memory wall (llama.cpp's q8_0 / q4):

- **int8, per output channel** (symmetric): row n keeps one scale ``s_n = max|w_n| / 127`` and
  ``q = round(w / s_n)`` in [-127, 127]; ``w_hat = q * s_n``. 8 bits + 16 bits per row.
- **int4, group-wise** (asymmetric, round-to-nearest): each run of ``group_size`` (32/64/128)
  consecutive inputs of a row keeps a scale and a zero point; ``q = round((w - lo) / scale)`` in
  [0, 15] with ``scale = (max - min) / 15``; ``w_hat = (q - 8) * scale + zero`` where
  ``zero = min + 8 * scale`` (the convention of PyTorch's int4 kernel). 4 bits + 32 / group_size bits.

Scales and zero points are stored in bf16 — the precision the kernels read them in, so the
readable :meth:`QuantizedLinear.reference_forward` (dequantize, then an ordinary matmul) and the
fast path compute with the same numbers; a test checks that they agree.

The fast paths are PyTorch's CPU kernels ``aten._weight_int8pack_mm`` and
``aten._weight_int4pack_mm_for_cpu``. They are fast only with **bf16 activations** (with fp32 ones
they take a fallback 10-100x slower than fp32 matmul; measured by ``benchmarks/compression.py``),
so activations are cast to bf16 for the product and the result back to the caller's dtype.

- **int8-dynamic** stores exactly what int8 stores, but multiplies with int8 *activations* too:
  the activation matrix is quantized on the fly (PyTorch's dynamic quantization,
  ``quantized.linear_dynamic``, fbgemm/x86), so the product runs on integer dot-product
  instructions. Measured on SmolLM2 (``benchmarks/compression.py``): faster than int8 weight-only
  but +180 % perplexity (+7 % as the LM head only) — one scale per call cannot hold the few outlier
  channels of LLM activations next to the small values. Kept as a method to measure, never a
  default. PyTorch has deprecated the quantized tensor types this kernel takes (pytorch issue
  184982): re-check it on a new torch.

Int4 weights are saved in a plain layout (two 4-bit codes per byte: even input column in the low
nibble), which is what safetensors holds; the kernel's own packed layout is derived from it in
memory on first use (and again after ``quantize_`` or ``load_state_dict``). That kernel exists on CPU only.

A model is rewritten in place by :func:`quantize_modules` (from its float weights) or by
:func:`quantized_layout` (empty modules of the right shapes, so a saved quantized state dict loads
into them); ``config.json``'s ``"quantization"`` entry says which.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError

COMPUTE_DTYPE = torch.bfloat16  # what the CPU kernels are fast with (activations, scales)
METHODS = ("int8", "int4", "int8-dynamic")
GROUP_SIZES = (32, 64, 128)


class QuantizedLinear(nn.Module):
    """A drop-in for ``nn.Linear`` (same ``in_features``/``out_features``/``bias``, same call) whose
    weight lives in int8 or int4 buffers. Subclasses define the storage, :meth:`dequantize` and
    :meth:`_matmul`."""

    method: str
    activation_dtype: torch.dtype = COMPUTE_DTYPE  # what :meth:`_matmul` receives

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., K) -> (..., N)
        if x.device.type != "cpu":
            raise ConfigError(f"{self.method} weights run on the CPU only (their kernel has no {x.device.type} "
                              f"version); run the quantized model on the CPU")
        y = self._matmul(x.reshape(-1, self.in_features).to(self.activation_dtype)).to(x.dtype)  # (M, N)
        y = y.reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias.to(x.dtype)

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The readable definition: rebuild the fp32 weight, then an ordinary matmul."""
        return F.linear(x, self.dequantize().to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized (N, K) fp32 weight — a new tensor each time (for code that reads a weight's
        dtype, device or values; the forward pass never builds it)."""
        return self.dequantize()

    def dequantize(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """fp32 weight rows (all, or those indexed by ``rows``): (N, K) or (*rows.shape, K)."""
        raise NotImplementedError

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        """(M, K) -> (M, N) in :attr:`activation_dtype`, without bias, through the fast kernel."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Int8Linear(QuantizedLinear):
    """int8 weight (N, K), one bf16 scale per output row."""

    method = "int8"

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__(in_features, out_features, bias)
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scales", torch.ones(out_features, dtype=COMPUTE_DTYPE))

    def quantize_(self, weight: torch.Tensor) -> Int8Linear:
        """Fill from a float (N, K) weight: symmetric round-to-nearest per row."""
        w = weight.detach().float()
        scales = (w.abs().amax(dim=1) / 127).clamp(min=1e-12).to(COMPUTE_DTYPE)  # (N,)
        self.scales.copy_(scales)
        self.qweight.copy_(torch.round(w / scales.float()[:, None]).clamp(-127, 127).to(torch.int8))
        return self

    def dequantize(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        if rows is None:
            return self.qweight.float() * self.scales.float()[:, None]
        return self.qweight[rows].float() * self.scales[rows].float()[..., None]

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten._weight_int8pack_mm(x, self.qweight, self.scales)


class Int8DynamicLinear(Int8Linear):
    """The int8 layer's storage (same buffers, same file) with int8 activations: ``x`` (M, K) is
    quantized on the fly (one scale and zero point from its min/max, 7 bits: ``reduce_range``) and
    the product is an integer one (fbgemm/x86 ``quantized.linear_dynamic``), rescaled to fp32.
    The error this adds is at most half an activation step times ``sum_k |w_nk|`` per output (tested)."""

    method = "int8-dynamic"
    activation_dtype = torch.float32

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__(in_features, out_features, bias)
        self._packed: Any = None  # fbgemm's packed copy of the weight, built on first use

    def quantize_(self, weight: torch.Tensor) -> Int8DynamicLinear:
        super().quantize_(weight)
        self._packed = None
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._packed = None

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        if self._packed is None:
            # the stored codes and row scales, viewed as a per-channel quantized tensor (zero points 0)
            with warnings.catch_warnings():  # quantized tensor types are deprecated; the kernel still needs one
                warnings.simplefilter("ignore", UserWarning)
                qweight = torch._make_per_channel_quantized_tensor(
                    self.qweight, self.scales.double(), torch.zeros(self.out_features, dtype=torch.long), 0)
                self._packed = torch.ops.quantized.linear_prepack(qweight, None)
        # reduce_range: 7-bit activations, as torch.ao's dynamic Linear uses on x86 (no int16 overflow
        # in the u8 x s8 dot products of CPUs without VNNI)
        return torch.ops.quantized.linear_dynamic(x.contiguous(), self._packed, True)


class Int4Linear(QuantizedLinear):
    """int4 codes (two per byte, (N, K/2) uint8), a bf16 scale and zero point per ``group_size``
    inputs of each row ((N, K / group_size) each)."""

    method = "int4"

    def __init__(self, in_features: int, out_features: int, bias: bool = False, group_size: int = 32) -> None:
        super().__init__(in_features, out_features, bias)
        if group_size not in GROUP_SIZES or in_features % group_size:
            raise ConfigError(f"int4 group size {group_size} does not divide the layer's input width "
                              f"{in_features} (choose one of {GROUP_SIZES} that divides every width)")
        self.group_size = group_size
        n_groups = in_features // group_size
        self.register_buffer("qweight", torch.zeros(out_features, in_features // 2, dtype=torch.uint8))
        self.register_buffer("scales", torch.ones(out_features, n_groups, dtype=COMPUTE_DTYPE))
        self.register_buffer("zeros", torch.zeros(out_features, n_groups, dtype=COMPUTE_DTYPE))
        self._kernel_args: tuple[torch.Tensor, torch.Tensor] | None = None  # (packed codes, scales & zeros)

    def quantize_(self, weight: torch.Tensor) -> Int4Linear:
        """Fill from a float (N, K) weight: asymmetric round-to-nearest per group."""
        N, K, g = self.out_features, self.in_features, self.group_size
        w = weight.detach().float().reshape(N, K // g, g)
        lo, hi = w.amin(dim=-1), w.amax(dim=-1)  # (N, G)
        scales = ((hi - lo) / 15).clamp(min=1e-12).to(COMPUTE_DTYPE)
        zeros = (lo + 8 * scales.float()).to(COMPUTE_DTYPE)
        self.scales.copy_(scales)
        self.zeros.copy_(zeros)
        s, z = scales.float()[..., None], zeros.float()[..., None]  # (N, G, 1)
        codes = torch.round((w - z) / s + 8).clamp(0, 15).to(torch.uint8).reshape(N, K)
        self.qweight.copy_(codes[:, 0::2] | (codes[:, 1::2] << 4))
        self._kernel_args = None
        return self

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._kernel_args = None  # new codes: the kernel's packed copy is rebuilt on the next call

    def codes(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The 4-bit codes unpacked, (N, K) uint8 in [0, 15] (or the indexed rows)."""
        packed = self.qweight if rows is None else self.qweight[rows]
        return torch.stack([packed & 0xF, packed >> 4], dim=-1).flatten(-2)

    def dequantize(self, rows: torch.Tensor | None = None) -> torch.Tensor:
        codes = self.codes(rows).float()
        scales = (self.scales if rows is None else self.scales[rows]).float()
        zeros = (self.zeros if rows is None else self.zeros[rows]).float()
        grouped = codes.unflatten(-1, (-1, self.group_size))  # (..., G, g)
        return ((grouped - 8) * scales[..., None] + zeros[..., None]).flatten(-2)

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        if self._kernel_args is None:
            pad = -self.out_features % 16  # the kernel wants whole tiles of 16 rows: pad with zero rows
            codes = F.pad(self.codes().to(torch.int32), (0, 0, 0, pad))  # (N + pad, K)
            packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
            scales_and_zeros = torch.stack([self.scales.T, self.zeros.T], dim=-1)  # (G, N, 2)
            scales_and_zeros = F.pad(scales_and_zeros, (0, 0, 0, pad)).contiguous()  # (G, N + pad, 2)
            self._kernel_args = (packed, scales_and_zeros)
        packed, scales_and_zeros = self._kernel_args
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, self.group_size, scales_and_zeros)
        return y[:, : self.out_features]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, group_size={self.group_size}"


class QuantizedEmbedding(nn.Module):
    """An embedding table read from a :class:`QuantizedLinear`'s rows: the tied LM head's (one
    quantized matrix serves both ends) or its own int8 copy when the table is untied."""

    def __init__(self, table: QuantizedLinear) -> None:
        super().__init__()
        self.table = table
        self.num_embeddings, self.embedding_dim = table.out_features, table.in_features

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, C) fp32
        return self.table.dequantize(ids)

    @property
    def weight(self) -> torch.Tensor:
        """The dequantized (V, C) table (a new tensor each time)."""
        return self.table.dequantize()


def _new_linear(method: str, linear: nn.Linear, group_size: int | None) -> QuantizedLinear:
    bias = linear.bias is not None
    if method == "int8":
        return Int8Linear(linear.in_features, linear.out_features, bias)
    if method == "int8-dynamic":
        return Int8DynamicLinear(linear.in_features, linear.out_features, bias)
    return Int4Linear(linear.in_features, linear.out_features, bias, group_size or 32)


def _rewrite(model: nn.Module, spec: dict[str, Any], fill: bool) -> None:
    """Swap every ``nn.Linear`` of ``model.blocks``, the LM head and the embedding; with ``fill``, quantize
    the current float weights into them (else leave them empty for a state dict to load)."""
    method, group_size, head_method = spec["method"], spec.get("group_size"), spec.get("head", spec["method"])
    for name, module in list(model.blocks.named_modules()):
        if isinstance(module, nn.Linear):
            new = _new_linear(method, module, group_size)
            if fill:
                new.quantize_(module.weight)
                if module.bias is not None:
                    new.bias.data.copy_(module.bias.data)
            model.blocks.set_submodule(name, new)
    head, emb = model.lm_head, model.tok_emb
    tied = head.weight is emb.weight
    new_head = _new_linear(head_method, head, group_size)
    if fill:
        new_head.quantize_(head.weight)
    if tied:
        table = new_head
    else:
        table = Int8Linear(emb.embedding_dim, emb.num_embeddings)
        if fill:
            table.quantize_(emb.weight)
    model.lm_head, model.tok_emb = new_head, QuantizedEmbedding(table)
    model.quantization = dict(spec)


def quantize_modules(model: nn.Module, spec: dict[str, Any]) -> None:
    """Quantize a float GPT/Llama in place: ``spec`` = {"method": "int8"|"int4"|"int8-dynamic", "group_size": 32|64|128
    (int4), "head": one of the methods, for the LM head and tied embedding (default here: the method;
    ``compress.quantize.quantization_spec``, which the CLI uses, defaults it to int8)}."""
    _rewrite(model, spec, fill=True)


def quantized_layout(model: nn.Module, spec: dict[str, Any], source: str = "config.json") -> None:
    """Give a freshly built model the empty quantized modules that ``spec`` describes (before loading)."""
    if spec.get("method") not in METHODS or spec.get("head", spec.get("method")) not in METHODS:
        raise ConfigError(f"{source}: quantization {spec!r} is not understood; expected method and head in {METHODS}")
    if not hasattr(model, "blocks") or not hasattr(model, "lm_head"):
        raise ConfigError(f"{source}: a quantized {model.family!r} model is not supported (gpt and llama are)")
    _rewrite(model, spec, fill=False)
