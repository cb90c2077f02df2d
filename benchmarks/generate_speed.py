"""Generation speed: lmforge's engine (KV cache) vs Hugging Face ``generate``, same weights.

    python -m benchmarks.generate_speed [--new-tokens 256]

Greedy decoding, batch 1, from the same prompt; both must produce the same tokens (checked).
Also shows lmforge without its KV cache, to show what the cache buys.
"""

from __future__ import annotations

import argparse
import time

import torch

from benchmarks._common import gpt_twins, markdown_table
from benchmarks._machine import machine_summary
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.gpt import GPTConfig

CONFIGS = {
    "0.8M (L4 d128, ctx 512)": GPTConfig(vocab_size=65, context_length=512, d_model=128, n_layers=4, n_heads=4),
    "10M (L6 d384, ctx 512)": GPTConfig(vocab_size=4096, context_length=512, d_model=384, n_layers=6, n_heads=6),
    "GPT-2 124M shape (ctx 512)": GPTConfig(vocab_size=50257, context_length=512),
}


def best_of(fn, repeats: int) -> tuple[float, list[int]]:
    best, out = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(machine_summary(), f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    n = args.new_tokens
    prompt = list(range(1, 17))
    rows = []
    for name, config in CONFIGS.items():
        ours, hf = gpt_twins(config)
        ours.eval()
        hf.eval()
        engine = GenerationEngine(ours)
        cached = SamplingConfig(max_new_tokens=n, temperature=0)
        uncached = SamplingConfig(max_new_tokens=n, temperature=0, use_cache=False)
        x = torch.tensor([prompt])

        @torch.inference_mode()
        def hf_generate(hf=hf, x=x):
            out = hf.generate(x, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True,
                              pad_token_id=0)
            return out[0, len(prompt):].tolist()

        t_hf, hf_tokens = best_of(hf_generate, args.repeats)
        t_ours, our_tokens = best_of(lambda e=engine, c=cached: e.generate(prompt, c), args.repeats)
        t_nocache, _ = best_of(lambda e=engine, c=uncached: e.generate(prompt, c), 1)
        same = "yes" if hf_tokens == our_tokens else "NO"
        rows.append([name, f"{n / t_ours:,.0f}", f"{n / t_hf:,.0f}", f"{t_hf / t_ours:.2f}x", f"{n / t_nocache:,.0f}",
                     f"{t_nocache / t_ours:.1f}x", same])
        print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(["model", "lmforge tok/s (KV cache)", "HF generate tok/s", "lmforge / HF",
                          "lmforge no cache tok/s", "cache speed-up", "same tokens"], rows))


if __name__ == "__main__":
    main()
