"""``lmforge info | export``: inspect and convert model directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def info(model_dir: Annotated[Path, typer.Argument(help="Model directory or training run directory.")]) -> None:
    """Show a model's family, size, configuration, tokenizer and training results."""
    from lmforge.models.registry import load_model
    from lmforge.tokenizers import load_tokenizer
    from lmforge.train.metrics import read_metrics

    model = load_model(model_dir)
    table = Table(title=str(model_dir), show_header=False)
    table.add_row("family", model.family)
    table.add_row("parameters", f"{model.num_parameters():,}")
    for key, value in vars(model.config).items():
        table.add_row(key, str(value))
    if (model_dir / "tokenizer.json").is_file():
        tok = load_tokenizer(model_dir / "tokenizer.json")
        table.add_row("tokenizer", f"{type(tok).__name__}, {tok.vocab_size} tokens")
    metrics = model_dir / "metrics.jsonl"
    if metrics.is_file():
        evals = [r for r in read_metrics(metrics) if "val_loss" in r]
        if evals:
            last = evals[-1]
            bpb = f" · {last['val_bpb']:.4f} bits/byte" if last.get("val_bpb") else ""
            table.add_row("last validation", f"step {last['step']}: {last['val_loss']:.4f} nats/token{bpb}")
    Console().print(table)


def export(
    model_dir: Annotated[Path, typer.Argument(help="lmforge model directory.")],
    out: Annotated[Path, typer.Option(help="Output directory for the Hugging Face checkpoint, or the .gguf file.")],
    fmt: Annotated[str, typer.Option("--format", help="hf: a transformers checkpoint directory. gguf: one "
                                                      "llama.cpp file. onnx: one ONNX graph (gpt).")] = "hf",
    tensor_type: Annotated[str, typer.Option("--type", help="gguf only: f32 | f16 | q8_0 | q4_0 | q4_1 for the "
                                                            "matrices (norms and biases stay f32).")] = "f16",
) -> None:
    """Export a gpt, llama, bert or t5 model to Hugging Face format (config.json + model.safetensors + tokenizer),
    or a gpt/llama model to GGUF for llama.cpp (``--format gguf --out m.gguf [--type q8_0]``), a gpt to ONNX
    (``--format onnx --out m.onnx``: input_ids -> logits, no KV cache).

    A bert model goes out as HF BERT, or as ALBERT or ELECTRA when its options need them (shared layers,
    factorized embeddings, a replaced-token head: an ELECTRA run's discriminator/). The result loads with
    transformers' from_pretrained (GPT2LMHeadModel, LlamaForCausalLM, ElectraForPreTraining, ...) and can be
    served by vLLM, TGI or converted for llama.cpp.
    """
    from lmforge.errors import ConfigError

    if fmt == "gguf":
        from lmforge.interop.gguf_write import export_gguf

        export_gguf(model_dir, out, tensor_type)
        Console().print(f"wrote {out} ({tensor_type}, {out.stat().st_size / 1e6:.1f} MB)")
        return
    if fmt == "onnx":
        from lmforge.interop.onnx_export import export_onnx

        export_onnx(model_dir, out)
        Console().print(f"wrote {out} (onnxruntime: input_ids (batch, sequence) -> logits)")
        return
    if fmt != "hf":
        raise ConfigError(f"--format must be hf, gguf or onnx, got {fmt!r}")
    from lmforge.interop.convert import export_hf_dir

    hf_class = export_hf_dir(model_dir, out)
    Console().print(f"exported to {out} (transformers: {hf_class}.from_pretrained({str(out)!r}))")
