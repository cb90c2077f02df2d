"""Phase 13, evaluation: how perplexity depends on the context each token is scored with."""

from __future__ import annotations

from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.infer.loading import load_model_dir
from lmforge.interop.convert import smollm2_dir
from lmforge.io import read_text
from lmforge.labs._common import bar_chart, data_path, tiny_gpt_dir
from lmforge.labs.registry import LabContext, LabResult, Reference, lab


@lab(id="evaluation-perplexity", phase="evaluation", title="Sliding-window perplexity: the stride changes the score",
     teaches=("lmforge.evaluate.perplexity",), docs="docs/labs.md#evaluation-perplexity", minutes=4)
def perplexity_lab(ctx: LabContext) -> LabResult:
    """Score the first 5,000 characters of Wharton's 'The Verdict' with SmolLM2-135M-Instruct
    in windows of 256 tokens started 256, 128 and 64 tokens apart: the same model and text get a lower
    perplexity when every token is predicted from more context. Bits per byte is reported too."""
    text = read_text(data_path("verdict/wharton-the_verdict.txt"))[:600 if ctx.smoke else 5_000]
    source = tiny_gpt_dir(ctx.out_dir / "tiny", text) if ctx.smoke else smollm2_dir()
    model, tokenizer = load_model_dir(source)
    window = min(256, model.context_length)
    strides = (window, window // 2, window // 4)
    ids = tokenizer.encode(text)
    metrics: dict[str, float] = {"tokens": len(ids), "window": window}
    for stride in strides:
        result = sliding_window_perplexity(model, ids, len(text.encode("utf-8")), window, stride)
        metrics |= {f"stride_{stride}_perplexity": result.perplexity,
                    f"stride_{stride}_bits_per_byte": result.bits_per_byte}
    plot = bar_chart(ctx.out_dir / "perplexity_by_stride.png", [f"stride {s}" for s in strides],
                     [metrics[f"stride_{s}_perplexity"] for s in strides], "perplexity",
                     f"windows of {window} tokens, {len(ids):,} tokens of 'The Verdict'")
    return LabResult(
        headline=f"perplexity with {window}-token windows: "
                 + ", ".join(f"stride {s} {metrics[f'stride_{s}_perplexity']:.2f}" for s in strides)
                 + f" ({metrics[f'stride_{strides[0]}_bits_per_byte']:.3f} -> "
                   f"{metrics[f'stride_{strides[-1]}_bits_per_byte']:.3f} bits/byte)",
        metrics=metrics,
        reference=Reference("GPT-2 large on WikiText-2: perplexity 19.44 with stride 1024 (no overlap) vs 16.45 "
                            "with stride 512", "Hugging Face transformers docs, 'Perplexity of fixed-length models'"),
        artifacts=[plot],
        notes="A score is only comparable with another computed with the same window, stride and tokenizer; "
              "bits per byte removes the tokenizer, not the stride.",
    )
