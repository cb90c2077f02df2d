"""Normalisation layers. Both rescale each token's vector to a standard size so
activations neither explode nor vanish through a deep stack.

- LayerNorm (GPT-2, BERT): subtract the mean, divide by the standard deviation,
  then a learned gain and bias: y = (x - mean) / sqrt(var + eps) * g + b.
- RMSNorm (Llama, T5): skip the mean, divide by the root mean square:
  y = x / sqrt(mean(x^2) + eps) * g. Cheaper, and works as well in practice.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

NormKind = Literal["layernorm", "rmsnorm"]


class RMSNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., C) -> (..., C)
        return _RMSNormFunction.apply(x, self.weight, self.eps)


class _RMSNormFunction(torch.autograd.Function):
    """RMSNorm with its gradient written out by hand (computed in at least float32, returned in the input dtype).

    Why: on CPU, ``F.rms_norm`` is a chain of small elementwise ops, and autograd differentiates each one
    separately (about a dozen passes over the (B, T, C) activations per backward). The closed form makes
    five. With xhat = x * r, r = 1 / sqrt(mean(x^2) + eps), y = xhat * w and g = dL/dy:

        dL/dx = r * (g*w - xhat * mean(g*w * xhat))     (means over the C channels of one token)
        dL/dw = sum over all tokens of g * xhat
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        ctx.x_dtype = x.dtype
        x = x.to(torch.promote_types(x.dtype, torch.float32))  # bf16/fp16 -> fp32; fp32/fp64 unchanged
        r = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)  # (..., 1)
        xhat = x * r  # (..., C), unit root-mean-square
        ctx.save_for_backward(xhat, r, weight)
        return (xhat * weight).to(ctx.x_dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        xhat, r, weight = ctx.saved_tensors
        grad = grad.to(xhat.dtype)
        gw = grad * weight  # (..., C)
        dot = (gw * xhat).mean(-1, keepdim=True)  # (..., 1)
        grad_x = torch.addcmul(gw, xhat, dot, value=-1).mul_(r)
        grad_w = (grad * xhat).reshape(-1, xhat.shape[-1]).sum(0)
        return grad_x.to(ctx.x_dtype), grad_w.to(weight.dtype), None


def make_norm(kind: NormKind, d_model: int, eps: float, bias: bool = True) -> nn.Module:
    if kind == "rmsnorm":
        return RMSNorm(d_model, eps)
    return nn.LayerNorm(d_model, eps=eps, bias=bias)
