"""Phase 10, compression: the same model with fp32, int8 and int4 weights: size, quality, speed."""

from __future__ import annotations

import time

from lmforge.compress.quantize import quantization_spec, quantize_model
from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.loading import load_model_dir
from lmforge.infer.sampling import SamplingConfig
from lmforge.interop.convert import smollm2_dir
from lmforge.io import read_text
from lmforge.labs._common import bar_chart, data_path, tiny_gpt_dir
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.models.registry import save_model

VARIANTS = ("fp32", "int8", "int4")
NEW_TOKENS = 32


@lab(id="compression-quantization", phase="compression", title="Quantization trade-off: fp32 vs int8 vs int4 weights",
     teaches=("lmforge.compress.quantize", "lmforge.models.blocks.quantized", "lmforge.evaluate.perplexity"),
     docs="docs/labs.md#compression-quantization", minutes=6)
def quantization_lab(ctx: LabContext) -> LabResult:
    """Quantize SmolLM2-135M-Instruct's weights to int8 (per row) and int4 (groups of 32, int8 head), then
    measure each variant's weight file size, bits per byte on a story it never saw (Wharton's 'The
    Verdict') and greedy generation speed at batch 1; fp32 is the reference."""
    text = read_text(data_path("verdict/wharton-the_verdict.txt"))[:400 if ctx.smoke else 4_000]
    source = tiny_gpt_dir(ctx.out_dir / "tiny", text) if ctx.smoke else smollm2_dir()
    metrics: dict[str, float] = {}
    for variant in VARIANTS:
        model, tokenizer = load_model_dir(source)
        if variant != "fp32":
            quantize_model(model, quantization_spec(variant), str(source))
        save_model(model, ctx.out_dir / variant)
        ids = tokenizer.encode(text)
        ppl = sliding_window_perplexity(model, ids, len(text.encode("utf-8")), min(512, model.context_length))
        start = time.perf_counter()
        n = len(GenerationEngine(model).generate(ids[:16], SamplingConfig(max_new_tokens=NEW_TOKENS, temperature=0)))
        metrics |= {f"{variant}_mb": (ctx.out_dir / variant / "model.safetensors").stat().st_size / 1e6,
                    f"{variant}_bits_per_byte": ppl.bits_per_byte,
                    f"{variant}_tokens_per_s": n / (time.perf_counter() - start)}
        ctx.console.print(f"  {variant}: {metrics[f'{variant}_mb']:.1f} MB, {ppl.bits_per_byte:.3f} bits/byte")
    plot = bar_chart(ctx.out_dir / "size_mb.png", list(VARIANTS), [metrics[f"{v}_mb"] for v in VARIANTS],
                     "model.safetensors (MB)", "weights on disk")
    bar_chart(ctx.out_dir / "bits_per_byte.png", list(VARIANTS), [metrics[f"{v}_bits_per_byte"] for v in VARIANTS],
              "bits per byte (lower is better)", "quality on unseen text")
    rows = [f"{v} {metrics[f'{v}_mb']:.3g} MB {metrics[f'{v}_bits_per_byte']:.3f} bit/B "
            f"{metrics[f'{v}_tokens_per_s']:.1f} tok/s" for v in VARIANTS[1:]]
    return LabResult(
        headline="; ".join(rows),
        metrics=metrics,
        reference=Reference(f"fp32 weights: {metrics['fp32_mb']:.3g} MB, {metrics['fp32_bits_per_byte']:.3f} "
                            f"bits/byte, {metrics['fp32_tokens_per_s']:.1f} tok/s",
                            "the same model unquantized, measured in this run"),
        artifacts=[plot, ctx.out_dir / "bits_per_byte.png"],
        notes="Speeds are single runs of 32 greedy tokens on a shared CPU: compare them within one run only. "
              + ("" if ctx.smoke else "SmolLM2 is imported from a Q4_1 GGUF: its weights already sit on a 4-bit "
                 "grid in blocks of 32, so int4 (groups of 32) loses almost nothing here; a model trained in "
                 "float would lose more."),
    )
