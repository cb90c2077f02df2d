"""Self-speculative decoding on SmolLM2-135M-Instruct: acceptance rate and speed-up at identical greedy output.

    python -m benchmarks.speculative [--prompts 4] [--max-tokens 32] [--layers 6 10] [--k 3]

Prompts: the first ``--prompts`` instructions of the bundled instruction data
(tests/data/instruction_data/instructions_120.json) in SmolLM2's chat template. The reference, in the
same run: the target alone (GenerationEngine, greedy). Each draft is the target's first ``--layers``
blocks (of 30) with the shared embedding and head (``infer.speculative.first_layers_draft``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.speculative import first_layers_draft, speculative_generate
from lmforge.interop.convert import smollm2_dir
from lmforge.serve.backend import ModelBackend

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "instruction_data" / "instructions_120.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--layers", type=int, nargs="+", default=[6, 10])
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args()
    print(machine_summary(), f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    backend = ModelBackend(smollm2_dir())
    target = backend.model
    records = json.loads(DATA.read_text())[: args.prompts]
    prompts = [backend.chat_prompt([{"role": "user", "content": f"{r['instruction']}\n{r['input']}".strip()}])
               for r in records]
    config = SamplingConfig(max_new_tokens=args.max_tokens, temperature=0, stop_tokens=backend.sampling_stops())
    start = time.perf_counter()
    reference = [GenerationEngine(target).generate(p, config) for p in prompts]
    base = sum(map(len, reference)) / (time.perf_counter() - start)
    rows = [["target alone", "–", "–", f"{base:.2f}", "1.00x", "–"]]
    for layers in args.layers:
        draft = first_layers_draft(target, layers)
        start, outputs, proposed, accepted = time.perf_counter(), [], 0, 0
        for p in prompts:
            out, stats = speculative_generate(target, draft, p, config, args.k)
            outputs.append(out)
            proposed, accepted = proposed + stats.proposed, accepted + stats.accepted
        speed = sum(map(len, outputs)) / (time.perf_counter() - start)
        rows.append([f"draft: first {layers} of {target.config.n_layers} layers", str(args.k),
                     f"{accepted / proposed:.0%}", f"{speed:.2f}", f"{speed / base:.2f}x",
                     "yes" if outputs == reference else "NO"])
    print(markdown_table(["decoder", "k", "acceptance", "tok/s", "vs target", "same greedy output"], rows))
    print(f"\nload average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
