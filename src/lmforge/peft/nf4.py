"""4-bit NormalFloat (NF4) weights, as in QLoRA (Dettmers et al., 2023).

Trained weights are roughly normally distributed. NF4 picks 16 levels so that each level covers
an equal share of a standard normal's probability mass (quantiles), scaled into [-1, 1], with an
exact 0. A weight matrix is cut into blocks of ``block_size`` (64) consecutive values; each block
stores its absolute maximum (the *absmax*, fp32) and, per value, the 4-bit index of the nearest
level to ``w / absmax``. Dequantization is a table look-up times the block's absmax::

    w_hat = NF4[code] * absmax_block          |w - w_hat| <= absmax_block * (largest level gap) / 2

Storage: 4 bits + 32 / 64 bits of absmax = 4.5 bits per weight. *Double quantization* quantizes
the absmaxes themselves (minus their mean) to 8 bits in blocks of 256, with one fp32 scale per
block: 4 + 8 / 64 + 32 / (64 * 256) ~ 4.13 bits per weight. (bitsandbytes uses a non-linear 8-bit
"dynamic" map there; this module uses plain symmetric int8, which is simpler and just as bounded.)

Two codes share a byte, the first in the high nibble, as in bitsandbytes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError
from lmforge.peft.modules import replace_module

DQ_BLOCK = 256  # absmaxes per second-level block (double quantization)


def nf4_levels(offset: float = 0.9677083) -> torch.Tensor:
    """The 16 NF4 levels, from normal quantiles.

    8 positive levels are the quantiles at probabilities linspace(offset, 0.5, 9)[:-1], 7 negative
    ones at linspace(offset, 0.5, 8)[:-1] (asymmetric, so that 0 is exactly representable), plus 0;
    everything is divided by the largest so the ends are exactly -1 and 1. ``offset`` (QLoRA's
    value) keeps the outermost quantile finite.
    """
    p_pos = torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1]
    p_neg = torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1]
    levels = torch.cat([torch.special.ndtri(p_pos), -torch.special.ndtri(p_neg), torch.zeros(1, dtype=torch.float64)])
    levels = levels.sort().values
    return (levels / levels.max()).float()


NF4 = nf4_levels()
MAX_HALF_GAP = float((NF4[1:] - NF4[:-1]).max() / 2)  # worst rounding error, in units of a block's absmax


def quantize_nf4(weight: torch.Tensor, block_size: int = 64,
                 double_quant: bool = False) -> dict[str, torch.Tensor]:
    """Quantize ``weight`` (any shape; its size must be a multiple of the even ``block_size``) to NF4.

    Returns a dict of tensors: ``codes`` (uint8, two per byte), ``absmax`` (fp32 per block) or, with
    double quantization, ``absmax_q`` (int8), ``absmax_scale`` (fp32 per 256 blocks), ``absmax_mean``.
    """
    flat = weight.detach().float().flatten()
    n = flat.numel()
    if n % block_size or block_size % 2:
        raise ConfigError(f"NF4: {n} values do not split into blocks of {block_size} (an even block size is needed)")
    blocks = flat.view(-1, block_size)  # (n_blocks, block_size)
    absmax = blocks.abs().amax(dim=1).clamp_min(1e-12)  # (n_blocks,)
    normalized = blocks / absmax[:, None]  # in [-1, 1]
    midpoints = (NF4[1:] + NF4[:-1]) / 2
    codes = torch.bucketize(normalized, midpoints.to(normalized.device)).to(torch.uint8).flatten()  # nearest level
    packed = (codes[0::2] << 4) | codes[1::2]  # (n / 2,): first value in the high nibble
    out = {"codes": packed}
    if double_quant:
        out.update(_quantize_absmax(absmax))
    else:
        out["absmax"] = absmax
    return out


def _quantize_absmax(absmax: torch.Tensor) -> dict[str, torch.Tensor]:
    """Second-level quantization: (absmax - mean) -> int8 in blocks of DQ_BLOCK, symmetric, round-to-nearest."""
    mean = absmax.mean()
    centred = absmax - mean
    pad = (-centred.numel()) % DQ_BLOCK
    blocks = F.pad(centred, (0, pad)).view(-1, DQ_BLOCK)  # (n_dq_blocks, DQ_BLOCK)
    scale = blocks.abs().amax(dim=1).clamp_min(1e-12) / 127
    q = torch.round(blocks / scale[:, None]).to(torch.int8).flatten()[: absmax.numel()]
    return {"absmax_q": q, "absmax_scale": scale, "absmax_mean": mean.reshape(1)}


def dequantize_absmax(state: dict[str, torch.Tensor]) -> torch.Tensor:
    if "absmax" in state:
        return state["absmax"]
    q = state["absmax_q"].float()
    pad = (-q.numel()) % DQ_BLOCK
    blocks = F.pad(q, (0, pad)).view(-1, DQ_BLOCK) * state["absmax_scale"][:, None]
    return blocks.flatten()[: q.numel()] + state["absmax_mean"]


def dequantize_nf4(state: dict[str, torch.Tensor], shape: torch.Size | tuple[int, ...],
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fp tensor the codes stand for: NF4[code] * absmax of the code's block."""
    packed = state["codes"]
    codes = torch.stack([packed >> 4, packed & 0x0F], dim=1).flatten().long()  # (n,)
    absmax = dequantize_absmax(state)
    values = NF4.to(packed.device)[codes].view(absmax.numel(), -1) * absmax[:, None]  # (n_blocks, block_size)
    return values.view(shape).to(dtype)


class _DequantizeMatmul(torch.autograd.Function):
    """y = x W^T with W rebuilt from its NF4 codes in forward *and again* in backward.

    A plain ``F.linear(x, layer.dequantize())`` would make autograd keep every layer's full-precision W
    alive until backward, giving back most of the memory that 4-bit storage saved. Rebuilding W costs
    one more table look-up per layer (what bitsandbytes' 4-bit matmul does too). No gradient reaches W.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, layer: NF4Linear) -> torch.Tensor:
        ctx.layer = layer
        return x @ layer.dequantize().to(x.dtype).t()  # (..., in) @ (in, out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad_out @ ctx.layer.dequantize().to(grad_out.dtype), None  # dL/dx = dL/dy W


class NF4Linear(nn.Module):
    """A frozen linear layer whose weight is stored as NF4 codes; dequantized on the fly in forward.

    Only the 4-bit codes and the block scales stay in memory; forward (and backward) rebuild the
    (out, in) matrix for one matmul and drop it again. Gradients flow to the *input* (so LoRA adapters
    on top of this layer and on earlier layers train), never to the frozen codes.
    """

    def __init__(self, linear: nn.Linear, block_size: int = 64, double_quant: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.block_size, self.double_quant = block_size, double_quant
        for name, tensor in quantize_nf4(linear.weight, block_size, double_quant).items():
            self.register_buffer(name, tensor)
        self.compute_dtype = linear.weight.dtype
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(), requires_grad=False)

    @property
    def num_quantized(self) -> int:
        """Weights held as 4-bit codes (not counted by ``parameters()``, since they are buffers)."""
        return self.in_features * self.out_features

    def _state(self) -> dict[str, torch.Tensor]:
        names = ("absmax_q", "absmax_scale", "absmax_mean") if self.double_quant else ("absmax",)
        return {"codes": self.codes, **{n: getattr(self, n) for n in names}}

    def dequantize(self) -> torch.Tensor:
        return dequantize_nf4(self._state(), (self.out_features, self.in_features), self.compute_dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        y = _DequantizeMatmul.apply(x, self)
        return y if self.bias is None else y + self.bias.to(y.dtype)


def quantize_model(model: nn.Module, skip: tuple[str, ...] = ("lm_head",), block_size: int = 64,
                   double_quant: bool = False) -> list[str]:
    """Replace every ``nn.Linear`` (except names ending in ``skip``) by an :class:`NF4Linear`, in place.

    The LM head is skipped by default: it is usually tied to the embedding table, which stays in full
    precision (embeddings are looked up, not multiplied, and quantizing them saves little compute).
    """
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and not n.endswith(skip)]
    for name in names:
        replace_module(model, name, NF4Linear(model.get_submodule(name), block_size, double_quant))
    for p in model.parameters():
        p.requires_grad_(False)
    return names
