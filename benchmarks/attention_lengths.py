"""Training speed and memory vs sequence length for four ways to attend, on the same small decoder.

    python -m benchmarks.attention_lengths [--lengths 256 512 1024 2048 4096] [--png docs/attention-lengths.png]

Each variant is a 2-layer, 128-wide, 4-head causal LM over a 256-token vocabulary, timed on one sequence of
T tokens per training step (forward + causal-LM loss + backward, fp32):

- ``full``: Llama attention over the whole past (PyTorch's fused causal kernel: no T x T matrix is stored);
- ``sliding window``: the same Llama with ``sliding_window=256`` (Mistral); the window is an additive
  (T, T) mask, so scores are computed and masked, not skipped;
- ``segment recurrence``: GPT with ALiBi read in 256-token segments, each attending to itself and the
  detached keys/values of the previous 256 positions (Transformer-XL; ``GPTConfig.segment_length``);
- ``LSH``: Reformer's hashed attention, chunks of 64, 2 hashing rounds, 2T/64 buckets.

Points are appended to ``--results`` as they are measured, and reused by the next run (delete the file to
measure afresh). tok/s = T / the fastest of a few training steps; memory = the rise of the resident-set
high-water mark over one training step (after a warm-up step), both measured in a fresh process per point
with a fixed malloc mmap threshold (``_common.MEMORY_ENV``) so freed memory returns to the OS. The CPU may
be shared: compare variants at the same T, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from benchmarks._common import MEMORY_ENV, best_time_per_call, markdown_table, peak_extra_memory, run_json
from benchmarks._machine import machine_summary
from lmforge.objectives.clm import causal_lm_loss

VARIANTS = ("full", "sliding window", "segment recurrence", "LSH")
WIDTH = dict(d_model=128, n_layers=2, n_heads=4)
VOCAB, WINDOW, CHUNK = 256, 256, 64


def build(variant: str, length: int) -> torch.nn.Module:
    """The variant's model for sequences of ``length`` tokens (random weights)."""
    if variant in ("full", "sliding window"):
        from lmforge.models.llama import Llama, LlamaConfig

        window = WINDOW if variant == "sliding window" else None
        return Llama(LlamaConfig(vocab_size=VOCAB, context_length=length, d_mlp=344, n_kv_heads=4,
                                 sliding_window=window, **WIDTH))
    if variant == "segment recurrence":
        from lmforge.models.gpt import GPT, GPTConfig

        return GPT(GPTConfig(vocab_size=VOCAB, context_length=length, position="alibi", segment_length=WINDOW,
                             memory=WINDOW, **WIDTH))
    from lmforge.models.reformer import Reformer, ReformerConfig

    return Reformer(ReformerConfig(vocab_size=VOCAB, context_length=length, chunk_length=CHUNK, n_hashes=2,
                                   n_buckets=max(2, 2 * length // CHUNK), **WIDTH))


def measure(variant: str, length: int) -> dict:
    torch.manual_seed(0)
    model = build(variant, length).train()
    ids = torch.randint(0, VOCAB, (1, length + 1))
    batch = (ids[:, :-1], ids[:, 1:])

    def step() -> None:
        causal_lm_loss(model, batch).backward()
        model.zero_grad(set_to_none=True)

    step()  # warm-up: first calls allocate what later steps reuse
    memory = peak_extra_memory(step)
    seconds = best_time_per_call(step, rounds=2, seconds=0.5, warmup=0)
    return {"tok_s": length / seconds, "memory": memory}


def plot(results: dict[str, dict[int, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, points in results.items():
        lengths = sorted(points)
        speed.plot(lengths, [points[t]["tok_s"] for t in lengths], "o-", label=variant)
        memory.plot(lengths, [points[t]["memory"] / 2**20 for t in lengths], "o-", label=variant)
    for ax, label in ((speed, "training tok/s"), (memory, "peak extra memory per step (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T (tokens)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
    speed.legend()
    fig.suptitle("2-layer, 128-wide causal LM, one sequence per step, fp32, this CPU")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    parser.add_argument("--png", type=Path, default=Path("docs/attention-lengths.png"))
    parser.add_argument("--results", type=Path, default=Path("runs/attention_lengths.jsonl"),
                        help="each point is appended here as it is measured; points already there are reused")
    parser.add_argument("--variant", choices=VARIANTS, help="(internal) measure one point and print JSON")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args.lengths[0])))
        return
    results: dict[str, dict[int, dict]] = {v: {} for v in VARIANTS}
    if args.results.is_file():
        for point in map(json.loads, args.results.read_text().splitlines()):
            results[point["variant"]][point["length"]] = point
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for length in args.lengths:
        for variant in VARIANTS:
            if length not in results[variant]:
                point = run_json("benchmarks.attention_lengths", "--variant", variant, "--lengths", str(length),
                                 env=MEMORY_ENV)
                results[variant][length] = point = {"variant": variant, "length": length, **point}
                with args.results.open("a") as f:
                    f.write(json.dumps(point) + "\n")
    plot(results, args.png)
    print(f"Machine: {machine_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    header = ["T", *(f"{v} tok/s" for v in VARIANTS), *(f"{v} MiB" for v in VARIANTS)]
    rows = [[str(t), *(f"{results[v][t]['tok_s']:,.0f}" for v in VARIANTS),
             *(f"{results[v][t]['memory'] / 2**20:.0f}" for v in VARIANTS)] for t in args.lengths]
    print(markdown_table(header, rows))
    print(f"\nPlot: {args.png}")


if __name__ == "__main__":
    main()
