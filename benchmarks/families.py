"""Every lmforge Transformer family vs its Hugging Face twin: same config, same weights, same batch.

    python -m benchmarks.families [--seconds 1.0] [--rounds 3]

For each family: forward (inference, no grad) and training step (forward + cross-entropy + backward)
throughput in tokens/s, and the peak extra memory of one training step. Twins share weights through the
real export path (lmforge -> HF checkpoint -> ``from_pretrained``), HF uses its default (SDPA) attention.
Timings are the best of interleaved rounds (see ``benchmarks/_common.py``). Peak memory is the rise of the
process's resident-set high-water mark (Linux ``VmHWM``, reset before each step) over its size before the
step; each family runs in its own process with a fixed malloc mmap threshold so freed blocks go back to the
OS and every step's peak is measured afresh.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks._common import compare_times, markdown_table
from benchmarks._machine import machine_summary

FAMILIES = ("gpt", "llama", "bert", "t5")
B, T, T_DEC = 8, 256, 64
VOCAB = 8192


def _twins(family: str):
    """(ours, hf, ours_logits(batch), hf_logits(batch), batch, tokens per batch)."""
    import transformers

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, VOCAB, (B, T), generator=g)
    with tempfile.TemporaryDirectory() as d:
        if family == "gpt":
            from lmforge.interop.hf_gpt2 import export_hf_gpt2
            from lmforge.models.gpt import GPT, GPTConfig

            ours = GPT(GPTConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=4))
            export_hf_gpt2(ours, d)
            hf = transformers.GPT2LMHeadModel.from_pretrained(d)
            return ours, hf, lambda m: m(ids), lambda m: m(input_ids=ids).logits, ids, B * T
        if family == "llama":
            from lmforge.interop.hf_llama import export_hf_llama
            from lmforge.models.llama import Llama, LlamaConfig

            ours = Llama(LlamaConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=8,
                                     n_kv_heads=2, d_mlp=688))
            export_hf_llama(ours, d)
            hf = transformers.LlamaForCausalLM.from_pretrained(d)
            return ours, hf, lambda m: m(ids), lambda m: m(input_ids=ids).logits, ids, B * T
        if family == "bert":
            from lmforge.interop.hf_bert import export_hf_bert
            from lmforge.models.bert import Bert, BertConfig

            ours = Bert(BertConfig(vocab_size=VOCAB, context_length=T, d_model=256, n_layers=4, n_heads=4,
                                   d_mlp=1024, dropout=0.0))
            export_hf_bert(ours, d)
            hf = transformers.BertForPreTraining.from_pretrained(d)
            mask = torch.ones_like(ids)
            return (ours, hf, lambda m: m.mlm_logits(m(ids, attention_mask=mask)),
                    lambda m: m(input_ids=ids, attention_mask=mask).prediction_logits, ids, B * T)
        from lmforge.interop.hf_t5 import export_hf_t5
        from lmforge.models.t5 import T5, T5Config

        ours = T5(T5Config(vocab_size=VOCAB, d_model=256, d_head=32, d_mlp=1024, n_layers=3, n_heads=8,
                           dropout=0.0))
        export_hf_t5(ours, d)
        hf = transformers.T5ForConditionalGeneration.from_pretrained(d)
        dec = ids[:, :T_DEC]
        return (ours, hf, lambda m: m(ids, dec), lambda m: m(input_ids=ids, decoder_input_ids=dec).logits,
                dec, B * (T + T_DEC))


def _status(key: str) -> int:
    """A ``/proc/self/status`` memory field in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{key} not found in /proc/self/status")


def peak_extra_memory(fn) -> int:
    """Bytes the process's resident set grows to while ``fn`` runs, above its size before."""
    gc.collect()
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark VmHWM to the current RSS
    fn()
    return _status("VmHWM") - before


def measure(family: str, seconds: float, rounds: int) -> dict:
    ours, hf, ours_logits, hf_logits, targets, tokens = _twins(family)
    fns = {}
    for name, model, logits in (("ours", ours, ours_logits), ("hf", hf, hf_logits)):
        def forward(model=model, logits=logits):
            with torch.no_grad():
                logits(model)

        def train(model=model, logits=logits):
            out = logits(model)
            F.cross_entropy(out.flatten(0, 1), targets.flatten()).backward()
            model.zero_grad(set_to_none=True)

        model.train()
        fns[f"{name} forward"], fns[f"{name} train"] = forward, train
    times = compare_times(fns, rounds=rounds, seconds=seconds)
    memory = {name: peak_extra_memory(fn) for name, fn in fns.items() if name.endswith("train")}
    return {"tokens": tokens, "times": times, "memory": memory,
            "params": sum(p.numel() for p in ours.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timing window")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per measurement")
    parser.add_argument("--family", choices=FAMILIES, help="(internal) measure one family and print JSON")
    args = parser.parse_args()
    if args.family:
        print(json.dumps(measure(args.family, args.seconds, args.rounds)))
        return
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    rows = []
    for family in FAMILIES:
        cmd = [sys.executable, "-m", "benchmarks.families", "--family", family,
               "--seconds", str(args.seconds), "--rounds", str(args.rounds)]
        result = json.loads(subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
                            .stdout.strip().splitlines()[-1])
        t, mem, tokens = result["times"], result["memory"], result["tokens"]
        for mode in ("forward", "train"):
            ours, theirs = tokens / t[f"ours {mode}"], tokens / t[f"hf {mode}"]
            peak = (f"{mem['ours train'] / 2**20:.0f} / {mem['hf train'] / 2**20:.0f} MiB" if mode == "train"
                    else "")
            rows.append([f"{family} ({result['params'] / 1e6:.1f}M)", mode, f"{ours:,.0f}", f"{theirs:,.0f}",
                         f"{ours / theirs:.2f}x", peak])
    print(f"Machine: {machine_summary()}; torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print(f"Batch {B} x {T} tokens (T5: {T} encoder + {T_DEC} decoder), fp32, vocab {VOCAB}.\n")
    print(markdown_table(["family", "pass", "lmforge tok/s", "HF tok/s", "speed-up", "peak train memory (ours / HF)"],
                         rows))


if __name__ == "__main__":
    main()
