"""Helpers shared by the model benchmarks: twin models, peak FLOP/s, timing, tables."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

import torch

from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.models.gpt import GPT, GPTConfig


def gpt_twins(config: GPTConfig, seed: int = 0):
    """An lmforge GPT and an HF GPT2LMHeadModel with identical weights (via the real export path)."""
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    ours = GPT(config)
    with tempfile.TemporaryDirectory() as d:
        export_hf_gpt2(ours, d)
        hf = GPT2LMHeadModel.from_pretrained(d, attn_implementation="sdpa")
    return ours, hf


def matmul_peak_flops(dtype: torch.dtype = torch.float32, n: int = 2048, rounds: int = 5) -> float:
    """FLOP/s of a large square matmul: the practical ceiling for dense layers on this machine.

    The best of several short rounds, so a burst of other work on a shared machine does not lower it."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    return 2 * n**3 / best_time_per_call(lambda: a @ b, rounds=rounds, seconds=0.5)


def best_time_per_call(fn: Callable[[], object], rounds: int = 5, seconds: float = 1.0, warmup: int = 3) -> float:
    """Seconds per call: the fastest of ``rounds`` windows of at least ``seconds`` each.

    The minimum, not the mean, estimates what the code costs; slower windows measure whatever else the
    machine was doing."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds or count < 2:
            fn()
            count += 1
        best = min(best, elapsed / count)
    return best


def compare_times(fns: dict[str, Callable[[], object]], rounds: int = 5, seconds: float = 1.0) -> dict[str, float]:
    """Best seconds per call of each function, measured in interleaved rounds (A, B, A, B, ...).

    Interleaving exposes both sides to the same machine conditions, so their ratio stays fair even when
    the load changes during the run."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], best_time_per_call(fn, rounds=1, seconds=seconds, warmup=0))
    return best


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)  # first column text, the rest numbers
    lines = ["| " + " | ".join(r) + " |" for r in [header, align, *rows]]
    return "\n".join(lines)
