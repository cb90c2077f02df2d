"""``lmforge quantize``: int8/int4 weights for a GPT or Llama model directory (argument parsing only)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def quantize(
    model_dir: Annotated[Path, typer.Argument(help="Float gpt or llama model directory.")],
    out: Annotated[Path, typer.Option(help="New model directory for the quantized model.")],
    method: Annotated[str, typer.Option(help="int8: one scale per output row (~1/4 of fp32's bytes). int4: a "
                                             "scale and zero point per group of inputs (~1/7). int8-dynamic: "
                                             "int8's weights times int8 activations: faster, but measured "
                                             "+180 % perplexity on SmolLM2 (activation outliers).")] = "int8",
    group_size: Annotated[int | None, typer.Option(help="int4 only: inputs per scale, 32 | 64 | 128 (must divide "
                                                        "every layer's input width). Default 32.")] = None,
    head: Annotated[str, typer.Option(help="int8 | int4 | int8-dynamic for the LM head and the (tied) embedding, "
                                           "the largest matrix; int8 under an int4 body costs little and loses "
                                           "less; int8-dynamic there cost SmolLM2 +7 % perplexity.")] = "int8",
    device: Annotated[str, typer.Option(help="Where the model will run. The kernels are CPU-only, so anything "
                                             "but cpu is refused here rather than at the first request.")] = "cpu",
) -> None:
    """Store a model's linear layers, LM head and embedding in int8 or int4 (round-to-nearest, weight-only).

    The result is an ordinary model directory (config.json records the quantization, model.safetensors
    holds the codes and scales, tokenizer files are copied): sample, chat, serve and eval take it as is.
    Decoding on a CPU reads every weight per token, so fewer bytes per weight means more tokens per second.
    """
    from lmforge.compress.quantize import quantization_spec, quantize_model_dir

    spec = quantization_spec(method, group_size, head, device)
    quantize_model_dir(model_dir, out, spec)
    size = (out / "model.safetensors").stat().st_size / 1e6
    Console().print(f"{method} model written to {out} ({size:.1f} MB of weights)")
