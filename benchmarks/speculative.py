"""Speculative decoding on SmolLM2-135M-Instruct: what a verify pass costs, acceptance rate and speed-up at
identical greedy output.

    python -m benchmarks.speculative [--prompts 6] [--max-tokens 48] [--drafts ngram layers:10] [--k 4 3]
                                     [--precision fp32|bf16] [--no-pack]

Verify cost: one target pass reading T new tokens after a 100-token cache (T = 1: a plain decoding step;
T = k + 1: checking k proposals), best of 5 interleaved calls, as a multiple of T = 1, with plain and with
packed weights (``infer.packed``), timed in the same run. The drafts then run on packed weights (``--no-pack``:
plain ones).

Prompts, in SmolLM2's chat template, from the bundled instruction data
(tests/data/instruction_data/instructions_120.json), two sets of ``--prompts`` each:
``with input``, the first records that carry an input text (edit, rewrite, translate, classify it: a reply
may copy from it), and ``first``, the first records whatever they ask. Each decoder in ``--drafts``
(``infer.speculative.make_draft`` specs, with the matching ``--k``) runs every prompt right after the target
alone (``GenerationEngine``, greedy) so both see the same load; tok/s = new tokens / time over the set.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.packed import pack_linears
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.speculative import SpeculativeEngine, make_draft
from lmforge.interop.convert import smollm2_dir
from lmforge.models.base import CausalLM
from lmforge.serve.backend import ModelBackend

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "instruction_data" / "instructions_120.json"


@torch.inference_mode()
def verify_costs(model: CausalLM, news: list[int], cached: int = 100, rounds: int = 5) -> dict[int, float]:
    """Seconds for one pass reading T new tokens after ``cached`` ones (best of ``rounds``, interleaved)."""
    cache = model.new_cache(1)
    model(torch.randint(0, 1000, (1, cached)), cache)  # the cache takes the weights' dtype
    best = dict.fromkeys(news, float("inf"))
    for _ in range(rounds):
        for t in news:
            cache.length = cached
            x = torch.randint(0, 1000, (1, t))
            start = time.perf_counter()
            model.lm_head(model.hidden(x, cache)[0])
            best[t] = min(best[t], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=6, help="prompts per set")
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--drafts", nargs="+", default=["ngram", "layers:10"])
    parser.add_argument("--k", type=int, nargs="+", default=[4, 3], help="proposals per round, one per draft")
    parser.add_argument("--precision", default="fp32", help="the target's weights (serve --precision): fp32 or bf16")
    parser.add_argument("--pack", action=argparse.BooleanOptionalAction, default=True,
                        help="packed weights (serve --pack, the default) or plain ones")
    args = parser.parse_args()
    if len(args.k) != len(args.drafts):
        parser.error("give one --k per --drafts entry")
    print(machine_summary(), f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}, weights in {args.precision}, "
          f"{'packed' if args.pack else 'plain'}\n")
    backend = ModelBackend(smollm2_dir(), precision=args.precision, pack=False)
    news = sorted({1, *(k + 1 for k in args.k), 2, 3})
    packed_model = copy.deepcopy(backend.model)  # the same weights, packed, timed in the same run
    pack_linears(packed_model)
    plain, packed = verify_costs(backend.model, news), verify_costs(packed_model, news)
    target = packed_model if args.pack else backend.model
    print(markdown_table(["new tokens in one target pass", "plain ms", "vs 1", "packed ms", "vs 1", "packed speed-up"],
                         [[str(t), f"{1000 * plain[t]:.0f}", f"{plain[t] / plain[1]:.2f}x", f"{1000 * packed[t]:.0f}",
                           f"{packed[t] / packed[1]:.2f}x", f"{plain[t] / packed[t]:.2f}x"] for t in news]), "\n")

    records = json.loads(DATA.read_text())
    sets = {"with input": [r for r in records if r["input"].strip()][: args.prompts],
            "first": records[: args.prompts]}
    config = SamplingConfig(max_new_tokens=args.max_tokens, temperature=0, stop_tokens=backend.sampling_stops())
    rows = []
    for name, chosen in sets.items():
        prompts = [backend.chat_prompt([{"role": "user", "content": f"{r['instruction']}\n{r['input']}".strip()}])
                   for r in chosen]
        for spec, k in zip(args.drafts, args.k, strict=True):
            engine = SpeculativeEngine(target, make_draft(target, spec), k)
            base_time = spec_time = 0.0
            same, n_tokens = True, 0
            for prompt in prompts:
                start = time.perf_counter()
                reference = GenerationEngine(target).generate(prompt, config)
                middle = time.perf_counter()
                out = engine.generate(prompt, config)
                spec_time += time.perf_counter() - middle
                base_time += middle - start
                same &= out == reference
                n_tokens += len(reference)
            stats = engine.stats
            rows.append([name, spec, str(k), f"{stats.acceptance_rate:.0%}", f"{n_tokens / stats.target_passes:.2f}",
                         f"{n_tokens / base_time:.2f}", f"{n_tokens / spec_time:.2f}",
                         f"{base_time / spec_time:.2f}x", "yes" if same else "NO"])
    print(markdown_table(["prompts", "draft", "k", "acceptance", "tokens per target pass", "target alone tok/s",
                          "speculative tok/s", "speed-up", "same greedy output"], rows))
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
