"""One-line description of the machine a benchmark ran on (shared by all benchmarks)."""

from __future__ import annotations

import os
import platform

from lmforge.precision import cpu_model_and_flags

#: CPU features that decide which fast kernels (e.g. PyTorch's) can run.
_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx")


def machine_summary() -> str:
    """E.g. ``"AMD EPYC, 2 CPUs; avx2 yes, avx512f no, avx512_bf16 no, amx no; Python 3.11.7, Linux"``."""
    model, flags = cpu_model_and_flags()
    has = {f: (any(x.startswith("amx") for x in flags) if f == "amx" else f in flags) for f in _FLAGS}
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 0
    features = ", ".join(f"{f} {'yes' if ok else 'no'}" for f, ok in has.items())
    return f"{model}, {cpus} CPUs; {features}; Python {platform.python_version()}, {platform.system()}"


if __name__ == "__main__":
    print(machine_summary())
