"""Planning numbers: training tok/s vs model size on this machine, and what a compute-optimal run would cost.

    python -m benchmarks.scaling [--seconds 30] [--threads 2] [--sizes gpt-tiny,gpt-char-quickstart,...]

For each size, trains for ``--seconds`` on random token windows (speed does not depend on the data):
the Trainer's step (causal-LM loss, backward, grad clip at 1.0, AdamW), fp32, after 2 warm-up steps.
A size is a preset name, optionally with overrides: ``gpt-char-quickstart:d_model=256,n_layers=6``;
``batch_size=`` sets the windows per step (gpt2-small runs at batch 1 here to stay within memory).

Then the compute-optimal budget (Hoffmann et al. 2022, "Chinchilla": about 20 training tokens per
parameter), its training FLOPs (6 · N · D) and how long it would take at the measured speed.
N counts every parameter (embeddings included; with a tied head, once).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.models.registry import build_model
from lmforge.objectives.clm import causal_lm_loss
from lmforge.presets import load_preset
from lmforge.train.schedule import make_optimizer

TOKENS_PER_PARAM = 20  # Chinchilla's compute-optimal ratio
VOCAB = {"char": 65, "bpe": 4096, "gpt2": 50257}  # tinyshakespeare chars, the quickstart BPE, GPT-2's BPE
DEFAULT_SIZES = ("gpt-tiny", "gpt-char-quickstart", "gpt-bpe-quickstart", "gpt-char-quickstart:d_model=256,n_layers=6",
                 "gpt-bpe-quickstart:d_model=384,n_layers=6,context_length=256,batch_size=8",
                 "gpt2-small:batch_size=1")


def parse_size(spec: str) -> tuple[str, dict, int]:
    """``preset[:key=value,...]`` -> (preset, model config, batch size)."""
    name, _, extra = spec.partition(":")
    preset = load_preset(name)
    model, batch = dict(preset["model"]), int(preset.get("batch_size", 12))
    for item in filter(None, extra.split(",")):
        key, _, value = item.partition("=")
        if key == "batch_size":
            batch = int(value)
        else:
            model[key] = int(value)
    kind = "gpt2" if name == "gpt2-small" else "bpe" if "bpe" in name else "char"
    model["vocab_size"] = VOCAB[kind]
    return name, model, batch


def measure(model_config: dict, batch: int, seconds: float, device: str = "cpu") -> tuple[int, float]:
    """(parameters, training tokens per second)."""
    torch.manual_seed(0)
    model = build_model(model_config).to(device)
    params = sum(p.numel() for p in model.parameters())
    optimizer = make_optimizer(model, 1e-3, 0.1, (0.9, 0.95))
    T, V = model.context_length, model_config["vocab_size"]

    def step() -> None:
        x = torch.randint(0, V, (batch, T + 1), device=device)
        loss = causal_lm_loss(model, (x[:, :-1], x[:, 1:]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()  # the clock must see the work, not its launch

    for _ in range(2):
        step()
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    return params, steps * batch * T / (time.perf_counter() - start)


def duration(seconds: float) -> str:
    for unit, size in (("years", 365 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{seconds:.0f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0, help="training time per size (default 30)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu", help="cpu or cuda (fp32 either way)")
    parser.add_argument("--sizes", default=";".join(DEFAULT_SIZES),
                        help="sizes separated by ';' (see the module docstring)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]

    rows = []
    for spec in args.sizes.split(";"):
        name, config, batch = parse_size(spec)
        params, tok_s = measure(config, batch, args.seconds, args.device)
        tokens = TOKENS_PER_PARAM * params
        shape = (f"L{config['n_layers']} d{config['d_model']} T{config['context_length']} B{batch} "
                 f"V{config['vocab_size']:,}")
        rows.append([spec, f"{params / 1e6:,.2f}M", shape, f"{tok_s:,.0f}", f"{tokens / 1e6:,.1f}M",
                     f"{6 * params * tokens:.2e}", duration(tokens / tok_s)])
        print(f"{spec}: {params:,} params, {tok_s:,.0f} tok/s", flush=True)
    print(machine_summary())
    print(f"torch {torch.__version__}, {args.device}, {args.threads} threads, fp32; {args.seconds:g} s per size; "
          f"1-minute load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print(markdown_table(["size", "params N", "shape", "train tok/s", "20·N tokens", "FLOPs 6·N·D",
                          "time to 20·N here"], rows))


if __name__ == "__main__":
    main()
