"""Pruning: sparsity -> perplexity on held-out text, for four ways of choosing what goes.

    python -m benchmarks.pruning [--model smollm2 | --model-dir DIR] [--levels 0.1,0.3,0.5,0.7] [--out pruning.png]

Magnitude (layer-wise and global, unstructured) and structured (attention heads, MLP neurons, by
importance score: weight norms, or mean activations on 512 calibration tokens of tinyshakespeare)
masks from ``compress.prune`` at each sparsity level, applied to a fresh copy of the
model's block weights; perplexity and bits per byte on the held-out text of ``benchmarks/compression.py``
(The Verdict) through ``evaluate.perplexity``. No recovery fine-tune here (see ``compress.prune.hold_masks``).
Writes a markdown table and a PNG curve.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from benchmarks.compression import HELD_OUT, encodable
from lmforge.assets import tinyshakespeare_path
from lmforge.compress.prune import apply_masks, head_masks, magnitude_masks, neuron_masks
from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.models.registry import load_model
from lmforge.tokenizers import load_tokenizer

METHODS = {  # name -> (model, sparsity, calibration ids) -> masks
    "magnitude, layer-wise": lambda m, s, c: magnitude_masks(m, s, "layer"),
    "magnitude, global": lambda m, s, c: magnitude_masks(m, s, "global"),
    "attention heads": lambda m, s, c: head_masks(m, s),
    "MLP neurons (weight norms)": lambda m, s, c: neuron_masks(m, s),
    "MLP neurons (activations)": lambda m, s, c: neuron_masks(m, s, calibration=c),
}
CALIBRATION_TOKENS = 512  # from the bundled tinyshakespeare, never the held-out text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2", help="smollm2 (offline SmolLM2-135M-Instruct)")
    parser.add_argument("--model-dir", type=Path, help="any gpt/llama model directory instead of --model")
    parser.add_argument("--levels", default="0.1,0.3,0.5,0.7")
    parser.add_argument("--text-bytes", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("pruning.png"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_summary(), f"torch {torch.__version__}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start\n")
    if args.model_dir is None:
        from lmforge.interop.convert import smollm2_dir

        args.model_dir = smollm2_dir()
    source = args.model_dir
    tokenizer = load_tokenizer(source / "tokenizer.json")
    text = encodable(tokenizer, HELD_OUT.read_text(encoding="utf-8")[: args.text_bytes])
    ids = tokenizer.encode(text)
    model = load_model(source)
    calibration_text = encodable(tokenizer, tinyshakespeare_path().read_text(encoding="utf-8")[:20_000])
    calibration = torch.tensor([tokenizer.encode(calibration_text)[:CALIBRATION_TOKENS]])
    original = {k: v.clone() for k, v in model.state_dict().items()}
    context = min(512, model.context_length)

    def perplexity() -> float:
        return sliding_window_perplexity(model, ids, len(text.encode()), context).perplexity

    base = perplexity()
    levels = [float(x) for x in args.levels.split(",")]
    curves: dict[str, list[float]] = {}
    for method, masks_for in METHODS.items():
        curves[method] = []
        for level in levels:
            model.load_state_dict(original)
            apply_masks(model, masks_for(model, level, calibration))
            curves[method].append(perplexity())
            print(f"{method} {level:.0%}: {curves[method][-1]:.2f}", flush=True)
    rows = [[m, *(f"{p:.2f} ({p / base:.2f}x)" for p in ps)] for m, ps in curves.items()]
    plot(curves, levels, base, f"Pruning {source.name} without recovery", args.out)
    print(f"\nperplexity unpruned: {base:.3f} ({len(ids)} tokens of {HELD_OUT.name})\n")
    print(markdown_table(["method (fraction of weights / heads / neurons removed)",
                          *(f"{level:.0%}" for level in levels)], rows))
    print(f"\nwrote {args.out}; load average {os.getloadavg()[0]:.1f} at the end")


def plot(curves: dict[str, list[float]], levels: list[float], base: float, title: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method, ps in curves.items():
        ax.plot([0.0, *levels], [base, *ps], marker="o", label=method)
    ax.set_yscale("log")
    ax.set_xlabel("fraction removed (weights; heads or neurons for the structured rows)")
    ax.set_ylabel("perplexity (held-out, log scale)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    main()
