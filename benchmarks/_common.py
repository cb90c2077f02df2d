"""Helpers shared by the model benchmarks: twin models, peak FLOP/s, timing, tables."""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def paired_ratio(ours: Callable[[], object], theirs: Callable[[], object], pairs: int = 20,
                 warmup: int = 3) -> tuple[float, float, float]:
    """(median of theirs/ours time ratios over adjacent calls, fastest ours, fastest theirs), in seconds.

    Why pairs: on a shared virtual machine the speed of the whole host drifts by +-15 % within a minute,
    which moves the ratio of two separately-timed bests as much as the code under test. Two calls made
    back to back see the same conditions; the median of their ratios ignores the pairs a burst of
    other work hit. The order alternates (AB, BA, ...) so neither side always runs on a warm cache.
    """
    for _ in range(warmup):
        ours(), theirs()

    def timed(fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    ratios, ours_times, their_times = [], [], []
    for i in range(pairs):
        if i % 2:
            t_theirs, t_ours = timed(theirs), timed(ours)
        else:
            t_ours, t_theirs = timed(ours), timed(theirs)
        ratios.append(t_theirs / t_ours)
        ours_times.append(t_ours)
        their_times.append(t_theirs)
    return statistics.median(ratios), min(ours_times), min(their_times)


#: Environment for a memory-measuring child process: with a fixed malloc mmap threshold, freed blocks go back to
#: the OS, so every step's peak is measured afresh (only for memory: it slows every large allocation).
MEMORY_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}


def _status(key: str) -> int:
    """A ``/proc/self/status`` memory field in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not found in /proc/self/status")


def peak_extra_memory(fn: Callable[[], object]) -> int:
    """Bytes the process's resident set grows to while ``fn`` runs, above its size before (Linux)."""
    gc.collect()
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark VmHWM to the current RSS
    fn()
    return _status("VmHWM") - before


def run_json(module: str, *args: str, env: dict | None = None) -> dict:
    """Run ``python -m module args`` in a fresh process and parse the JSON on its last line of output."""
    out = subprocess.run([sys.executable, "-m", module, *args], env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)  # first column text, the rest numbers
    lines = ["| " + " | ".join(r) + " |" for r in [header, align, *rows]]
    return "\n".join(lines)
