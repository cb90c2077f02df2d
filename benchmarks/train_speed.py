"""Training throughput: lmforge GPT vs Hugging Face GPT2LMHeadModel, same config, weights and batches.

    python -m benchmarks.train_speed [--seconds 10]

One optimizer step = forward + cross-entropy + backward + grad clip + AdamW (fused where available),
identical for both models. MFU = achieved FLOP/s / this machine's fp32 matmul peak measured in the same run,
with FLOPs per token = 6 N (weights, forward + backward) + 12 L T d (attention scores and mixing).
"""

from __future__ import annotations

import argparse
import contextlib

import torch
import torch.nn.functional as F

from benchmarks._common import compare_times, gpt_twins, markdown_table, matmul_peak_flops
from benchmarks._machine import machine_summary
from lmforge.models.gpt import GPTConfig
from lmforge.train.schedule import make_optimizer

CONFIGS = {
    "0.8M (L4 d128 T64 B12)": (GPTConfig(vocab_size=65, context_length=64, d_model=128, n_layers=4, n_heads=4), 12),
    "10M (L6 d384 T256 B8)": (GPTConfig(vocab_size=4096, context_length=256, d_model=384, n_layers=6, n_heads=6), 8),
}


def train_step_fn(model, logits_of, batch, precision: str):
    optimizer = make_optimizer(model, 1e-4, 0.1, (0.9, 0.95))
    x, y = batch
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()

    def step():
        with ctx:
            logits = logits_of(model, x)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def flops_per_token(config: GPTConfig, n_params: int) -> float:
    return 6 * n_params + 12 * config.n_layers * config.context_length * config.d_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one timing window")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved windows per model; the best counts")
    parser.add_argument("--precisions", default="fp32,bf16")
    args = parser.parse_args()
    print(machine_summary())
    peak = matmul_peak_flops()
    print(f"fp32 matmul peak (2048^3): {peak / 1e9:.1f} GFLOP/s, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    rows = []
    for name, (config, batch_size) in CONFIGS.items():
        ours, hf = gpt_twins(config)
        ours.train()
        hf.train()
        g = torch.Generator().manual_seed(0)
        batch = (torch.randint(0, config.vocab_size, (batch_size, config.context_length), generator=g),
                 torch.randint(0, config.vocab_size, (batch_size, config.context_length), generator=g))
        tokens = batch_size * config.context_length
        fpt = flops_per_token(config, ours.num_parameters())
        for precision in args.precisions.split(","):
            times = compare_times({"hf": train_step_fn(hf, lambda m, x: m(x).logits, batch, precision),
                                   "ours": train_step_fn(ours, lambda m, x: m(x), batch, precision)},
                                  rounds=args.rounds, seconds=args.seconds)
            t_hf, t_ours = times["hf"], times["ours"]
            rows.append([name, precision, f"{tokens / t_ours:,.0f}", f"{tokens / t_hf:,.0f}", f"{t_hf / t_ours:.2f}x",
                         f"{fpt * tokens / t_ours / 1e9:.1f}", f"{100 * fpt * tokens / t_ours / peak:.0f}%"])
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(["model", "precision", "lmforge tok/s", "HF tok/s", "lmforge / HF", "lmforge GFLOP/s",
                          "MFU (vs fp32 peak)"], rows))


if __name__ == "__main__":
    main()
