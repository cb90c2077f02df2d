"""One-line description of the machine a benchmark ran on (shared by all benchmarks)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

#: CPU features that decide which fast kernels (e.g. PyTorch's) can run.
_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx")


def _cpuinfo() -> tuple[str, set[str]]:
    """``(model name, flags)`` from /proc/cpuinfo; falls back to ``platform`` elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU", set()
    model, flags = "unknown CPU", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown CPU":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, flags


def machine_summary() -> str:
    """E.g. ``"AMD EPYC, 2 CPUs; avx2 yes, avx512f no, avx512_bf16 no, amx no; Python 3.11.7, Linux"``."""
    model, flags = _cpuinfo()
    has = {f: (any(x.startswith("amx") for x in flags) if f == "amx" else f in flags) for f in _FLAGS}
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 0
    features = ", ".join(f"{f} {'yes' if ok else 'no'}" for f, ok in has.items())
    return f"{model}, {cpus} CPUs; {features}; Python {platform.python_version()}, {platform.system()}"


if __name__ == "__main__":
    print(machine_summary())
