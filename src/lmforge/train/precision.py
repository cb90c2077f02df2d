"""Choose fp32 or bf16 by what this CPU can actually do.

bf16 halves memory traffic and, on CPUs with native bf16 dot products
(AVX-512-BF16, AMX), roughly doubles matmul speed. On AVX2-only CPUs PyTorch
emulates it, and a bf16 matmul was measured ~7x *slower* than fp32. So "auto"
never assumes: it checks the instruction set, then times both.
"""

from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    precision: Precision
    reason: str


def cpu_model_and_flags() -> tuple[str, set[str]]:
    """CPU model name and feature flags from /proc/cpuinfo (empty flags elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = platform.machine(), set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == platform.machine():
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def _time_matmuls(dtype: torch.dtype | None, seconds: float) -> float:
    """Matmuls per second for a training-sized linear layer, forward + backward."""
    x = torch.randn(512, 512, requires_grad=True)
    w = torch.randn(512, 1024, requires_grad=True)
    ctx = torch.autocast("cpu", dtype=dtype) if dtype is not None else contextlib.nullcontext()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or count < 3:
        with ctx:
            y = x @ w
        y.float().sum().backward()
        count += 1
    return count / elapsed


def probe_bf16_speedup(seconds: float = 0.5) -> float:
    """How many times faster bf16 autocast runs than fp32 here (>1 means faster)."""
    _time_matmuls(None, 0.05)  # warm up threads and allocator
    fp32 = _time_matmuls(None, seconds)
    bf16 = _time_matmuls(torch.bfloat16, seconds)
    return bf16 / fp32


def resolve_precision(requested: str, device: str = "cpu") -> PrecisionChoice:
    """Turn ``auto|fp32|bf16`` into a concrete choice with a human-readable reason."""
    if requested in ("fp32", "bf16"):
        return PrecisionChoice(requested, "requested")  # type: ignore[arg-type]
    if requested != "auto":
        from lmforge.errors import ConfigError

        raise ConfigError(f"precision must be one of auto, fp32, bf16; got {requested!r}")
    if device != "cpu":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return PrecisionChoice("bf16", "GPU supports bf16")
        return PrecisionChoice("fp32", "device has no bf16 support")
    _, flags = cpu_model_and_flags()
    if flags and not any(f in flags for f in BF16_CPU_FLAGS):
        return PrecisionChoice("fp32", "CPU lacks AVX-512-BF16/AMX, where bf16 is emulated and slow")
    speedup = probe_bf16_speedup()
    if speedup >= 1.1:
        return PrecisionChoice("bf16", f"bf16 measured {speedup:.2f}x faster than fp32 here")
    return PrecisionChoice("fp32", f"bf16 measured only {speedup:.2f}x of fp32 speed here")


def autocast(precision: Precision, device: str = "cpu") -> contextlib.AbstractContextManager:
    """Mixed precision for forward + loss: weights and optimizer stay fp32."""
    if precision == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    return contextlib.nullcontext()
