"""Activation checkpointing per block (``--grad-checkpoint``): peak memory and step time, with and without.

    python -m benchmarks.grad_checkpoint [--device auto] [--steps 3] [--batch-size 8]

Each (family, checkpointing) pair runs in a fresh process, so one run's freed memory cannot hide another's
peak. Peak memory is the step's: on CUDA ``torch.cuda.max_memory_allocated`` above what the weights, gradients
and optimizer state already hold; on CPU the growth of the resident set (VmHWM - VmRSS before the step), in a
process whose allocator returns freed blocks to the OS (``MEMORY_ENV``). One optimizer step = forward +
cross-entropy + backward + AdamW, after one warm-up step (which allocates the optimizer state); the time is the
median of ``--steps`` steps, in the same process (the CPU allocator setting slows both columns alike).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from benchmarks._common import MEMORY_ENV, markdown_table, peak_extra_memory, run_json
from benchmarks._machine import machine_summary
from lmforge.devices import resolve_device
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.objectives.clm import causal_lm_loss
from lmforge.train.schedule import make_optimizer

SHAPE = dict(vocab_size=4096, context_length=512, d_model=256, n_layers=8, n_heads=8)
FAMILIES = {
    "GPT": lambda: GPT(GPTConfig(**SHAPE)),
    "Llama": lambda: Llama(LlamaConfig(**SHAPE, n_kv_heads=4, d_mlp=688)),
}


def child(family: str, checkpointed: bool, device: torch.device, steps: int, batch_size: int) -> dict:
    """One configuration in this process: the step's peak memory (MiB) and median step time (s)."""
    torch.manual_seed(0)
    model = FAMILIES[family]().to(device).train()
    model.set_grad_checkpointing(checkpointed)
    optimizer = make_optimizer(model, 1e-4, 0.1, (0.9, 0.95))
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, SHAPE["vocab_size"], (batch_size, SHAPE["context_length"] + 1), generator=g)
    batch = (ids[:, :-1].to(device), ids[:, 1:].to(device))

    def step() -> None:
        causal_lm_loss(model, batch).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()  # warm-up: optimizer state, kernel selection
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        peak = peak_extra_memory(step)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"peak_mib": peak / 2**20, "step_s": statistics.median(times),
            "params_m": model.num_parameters() / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # "family,0|1": run one configuration
    args = parser.parse_args()
    device = resolve_device(args.device)
    if args.child:
        family, flag = args.child.split(",")
        print(json.dumps(child(family, flag == "1", device, args.steps, args.batch_size)))
        return
    print(machine_summary())
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size} "
          f"x {SHAPE['context_length']} tokens, {SHAPE['n_layers']} blocks of width {SHAPE['d_model']}\n")
    rows = []
    for family in FAMILIES:
        plain, ckpt = (run_json("benchmarks.grad_checkpoint", "--child", f"{family},{flag}", "--device", str(device),
                                "--steps", str(args.steps), "--batch-size", str(args.batch_size), env=MEMORY_ENV)
                       for flag in ("0", "1"))
        rows.append([f"{family} {plain['params_m']:.1f}M", f"{plain['peak_mib']:,.0f}", f"{ckpt['peak_mib']:,.0f}",
                     f"{ckpt['peak_mib'] / plain['peak_mib']:.2f}x", f"{plain['step_s']:.2f}", f"{ckpt['step_s']:.2f}",
                     f"{ckpt['step_s'] / plain['step_s']:.2f}x"])
        print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(["model", "peak MiB", "peak MiB (ckpt)", "memory ratio", "step s", "step s (ckpt)",
                          "time ratio"], rows))


if __name__ == "__main__":
    main()
