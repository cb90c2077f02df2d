"""Output layer + cross-entropy: plain (full logits, then ``F.cross_entropy``) vs chunked (``linear_cross_entropy``).

    python -m benchmarks.linear_ce [--pairs 20]

One training step of just the last layer: N = 2048 hidden vectors (8 x 256 tokens) of width C through a
V-word output matrix, the mean cross-entropy, and the backward pass to the hidden states and the matrix
(or to the hidden states only, as when LoRA freezes the output layer). Shapes: GPT-small-like (C 256,
V 8192) and SmolLM2-135M's (C 576, V 49152). Speed-up = median time ratio over back-to-back call pairs;
peak memory = rise in resident memory during one step, measured in a child process.
"""

from __future__ import annotations

import argparse
import json

import torch

from benchmarks._common import MEMORY_ENV, markdown_table, paired_ratio, peak_extra_memory, run_json
from benchmarks._machine import machine_summary
from lmforge.objectives.linear_ce import linear_cross_entropy, plain_cross_entropy

N = 2048
SHAPES = {"gpt-small (C 256, V 8192)": (256, 8192), "smollm2 (C 576, V 49152)": (576, 49152)}
CASES = [(shape, frozen) for shape in SHAPES for frozen in (False, True)]


def _steps(shape: str, frozen: bool):
    """(plain step, chunked step) on the same seeded tensors."""
    width, vocab = SHAPES[shape]
    g = torch.Generator().manual_seed(0)
    hidden = torch.randn(N, width, generator=g, requires_grad=True)
    weight = (torch.randn(vocab, width, generator=g) * width**-0.5).requires_grad_(not frozen)
    targets = torch.randint(0, vocab, (N,), generator=g)

    def step(loss_fn):
        def run() -> None:
            loss_fn(hidden, weight, targets).backward()
            hidden.grad = weight.grad = None
        return run

    return step(plain_cross_entropy), step(linear_cross_entropy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=20, help="back-to-back (chunked, plain) call pairs per row")
    parser.add_argument("--memory", type=int, help="(internal) print the peak memory of case N as JSON")
    args = parser.parse_args()
    if args.memory is not None:
        plain, chunked = _steps(*CASES[args.memory])
        plain(), chunked()  # warm up
        print(json.dumps({"plain": peak_extra_memory(plain), "chunked": peak_extra_memory(chunked)}))
        return
    rows = []
    for i, (shape, frozen) in enumerate(CASES):
        plain, chunked = _steps(shape, frozen)
        ratio, chunked_s, plain_s = paired_ratio(chunked, plain, args.pairs)
        mem = run_json("benchmarks.linear_ce", "--memory", str(i), env=MEMORY_ENV)
        rows.append([shape, "hidden only (frozen W)" if frozen else "hidden + W", f"{plain_s * 1e3:.0f}",
                     f"{chunked_s * 1e3:.0f}", f"{ratio:.2f}x",
                     f"{mem['plain'] / 2**20:.0f} / {mem['chunked'] / 2**20:.0f} MiB"])
    print(f"Machine: {machine_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"N = {N} rows, fp32, forward + backward; {args.pairs} call pairs per row.\n")
    print(markdown_table(["shape", "gradients", "plain ms", "chunked ms", "speed-up", "peak memory (plain / chunked)"],
                         rows))


if __name__ == "__main__":
    main()
