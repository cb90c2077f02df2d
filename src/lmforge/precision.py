"""Choose fp32 or bf16 by what this model's own step (training, or decoding when it serves) does on this CPU.

bf16 halves memory traffic and, on CPUs with native bf16 dot products
(AVX-512-BF16, AMX), can double the speed of large matmuls. On AVX2-only CPUs
PyTorch emulates it and a bf16 step is many times *slower*, so "auto" answers
fp32 there without measuring. Where bf16 is native, a large-matmul probe still
does not predict a small model's step (0.8M parameters: bf16 was 0.79x of fp32
on an AVX-512-BF16 EPYC, while large matmuls were 2x faster), so "auto" times a
few real steps of both (training, or decoding for infer.loading) and keeps bf16 only when clearly faster.
The decision is cached per CPU, torch version and model/batch shape, because
the timing costs a few steps and the answer does not change between runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from lmforge.errors import ConfigError
from lmforge.io import write_json

Precision = Literal["fp32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = ("fp32", "bf16")  # what "auto" chooses between (and times) on a CPU
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")  # fp16: CUDA only, with a GradScaler
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
AUTO_ENV = "LMFORGE_AUTO_PRECISION"
MIN_BF16_SPEEDUP = 1.05  # bf16 must be this much faster: timing noise must not pick a slower precision


@dataclass(frozen=True)
class PrecisionChoice:
    precision: Precision
    reason: str


@dataclass(frozen=True)
class StepTimer:
    """Times one step of a model (training or decoding) in a given precision, with no lasting side effects.

    ``signature`` names what was timed (model kind and size, batch shapes), so a
    cached decision is reused only for the same shape of work.
    """

    signature: str
    time_step: Callable[[Precision], float]  # seconds for one step (training: forward + loss + backward)


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


def forced_auto_precision() -> Precision | None:
    """What ``LMFORGE_AUTO_PRECISION`` says auto must return, if it is set."""
    value = os.environ.get(AUTO_ENV, "").strip()
    if not value:
        return None
    if value not in PRECISIONS:
        raise ConfigError(f"{AUTO_ENV} must be fp32 or bf16, got {value!r}")
    return value  # type: ignore[return-value]


def resolve_precision(requested: str, timer: StepTimer | None = None, device: str = "cpu") -> PrecisionChoice:
    """Turn ``auto|fp32|bf16|fp16`` on ``device`` (a device type: cpu, cuda, mps) into a concrete choice with a
    human-readable reason.

    ``timer`` runs the model's own training step; "auto" needs it wherever bf16 is native on a CPU.
    fp16 is refused off CUDA: its 5-bit exponent underflows small gradients unless a GradScaler rescales
    the loss, and fp16 autocast on a CPU is slow where it exists at all.
    """
    if requested == "fp16" and device != "cuda":
        raise ConfigError(f"precision fp16 needs a CUDA GPU (this run is on {device}); use bf16 or fp32")
    if requested in PRECISION_CHOICES[1:]:
        return PrecisionChoice(requested, "requested")  # type: ignore[arg-type]
    if requested != "auto":
        raise ConfigError(f"precision must be one of {', '.join(PRECISION_CHOICES)}; got {requested!r}")
    return resolve_auto(timer, device)


def resolve_auto(timer: StepTimer | None, device: str = "cpu") -> PrecisionChoice:
    """What "auto" means here: the forced value, the device's answer, or the faster measured step."""
    forced = forced_auto_precision()
    if forced is not None:
        return PrecisionChoice(forced, f"forced by {AUTO_ENV}")
    if device == "cuda":
        if torch.cuda.is_bf16_supported():
            return PrecisionChoice("bf16", "GPU supports bf16")
        return PrecisionChoice("fp16", "GPU lacks bf16: fp16 with a GradScaler")
    if device != "cpu":
        return PrecisionChoice("fp32", f"{device}: mixed precision not chosen automatically")
    model, flags = cpu_model_and_flags()
    if flags and not any(f in flags for f in BF16_CPU_FLAGS):
        return PrecisionChoice("fp32", "CPU lacks AVX-512-BF16/AMX, where bf16 is emulated and slow")
    if timer is None:
        return PrecisionChoice("fp32", "no step of this model to time")
    key = _cache_key(model, flags, timer.signature)
    cached = _read_cache().get(key)
    if isinstance(cached, dict) and isinstance(cached.get("bf16_speedup"), (int, float)):
        return _choice(float(cached["bf16_speedup"]), "cached")
    speedup = measure_bf16_speedup(timer.time_step)
    cache = _read_cache()
    cache[key] = {"bf16_speedup": speedup, "cpu": model, "torch": torch.__version__, "shape": timer.signature}
    with contextlib.suppress(OSError):  # an unwritable cache only costs a re-measurement next time
        write_json(cache_path(), cache)
    return _choice(speedup, "measured")


def measure_bf16_speedup(time_step: Callable[[Precision], float], min_pairs: int = 3, max_pairs: int = 30,
                         seconds: float = 3.0) -> float:
    """bf16's speed as a multiple of fp32's (>1: bf16 faster), from median step times.

    One warm-up step each (allocator, kernel selection), then the two precisions
    alternate so that drift (other processes, clock changes) hits both alike. Pairs
    continue for ``seconds`` (at least ``min_pairs``, at most ``max_pairs``): a fast
    step gets many samples against noise, a slow one costs only a few steps.
    """
    for precision in PRECISIONS:
        time_step(precision)
    times: dict[Precision, list[float]] = {p: [] for p in PRECISIONS}
    start = time.perf_counter()
    while len(times["fp32"]) < max_pairs and (len(times["fp32"]) < min_pairs
                                              or time.perf_counter() - start < seconds):
        for precision in PRECISIONS:
            times[precision].append(time_step(precision))
    return statistics.median(times["fp32"]) / statistics.median(times["bf16"])


def _choice(speedup: float, how: str) -> PrecisionChoice:
    precision: Precision = "bf16" if speedup >= MIN_BF16_SPEEDUP else "fp32"
    return PrecisionChoice(precision, f"bf16 {speedup:.2f}x of fp32 on this model's step ({how}): {precision}")


def cache_path() -> Path:
    """``$XDG_CACHE_HOME/lmforge/precision.json`` (``~/.cache`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "lmforge" / "precision.json"


def _cache_key(cpu: str, flags: set[str], signature: str) -> str:
    """One key per CPU model + flags + torch version + thread count + shape of the timed work."""
    parts = [cpu, " ".join(sorted(flags)), torch.__version__, str(torch.get_num_threads()), signature]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _read_cache() -> dict:
    """The cached decisions; a missing, unreadable or corrupt cache is an empty one."""
    try:
        cache = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def autocast(precision: Precision, device: str = "cpu") -> contextlib.AbstractContextManager:
    """Mixed precision for forward + loss on ``device`` (a device type): weights and optimizer stay fp32."""
    if precision == "bf16":
        return torch.autocast(device, dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast(device, dtype=torch.float16)
    return contextlib.nullcontext()


def grad_scaler(precision: Precision, device: str) -> torch.amp.GradScaler:
    """fp16's loss scaler (multiplies the loss so small gradients survive fp16, unscales before the step,
    skips steps whose gradients overflowed); for every other precision a disabled one whose calls pass
    through, so the training loop has one shape."""
    return torch.amp.GradScaler(device, enabled=precision == "fp16")
