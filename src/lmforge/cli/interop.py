"""``lmforge import-hf | import-gguf``: bring released checkpoints in as lmforge model directories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def import_hf(
    hf_dir: Annotated[Path, typer.Argument(help="HF checkpoint folder (config.json + model.safetensors).")],
    out: Annotated[Path, typer.Option(help="Output lmforge model directory.")],
) -> None:
    """Convert a Hugging Face GPT-2, Llama (Mistral), BERT, ALBERT, ELECTRA or T5 checkpoint (tokenizer files copied).

    ALBERT and ELECTRA (discriminator or generator) become bert models with the matching options.
    """
    from lmforge.interop.convert import import_hf_dir

    model = import_hf_dir(hf_dir, out)
    Console().print(f"{model.family} model ({model.num_parameters():,} parameters) written to {out}")


def import_gguf(
    path: Annotated[Path, typer.Argument(help="A Llama-architecture .gguf file (llama.cpp).")],
    out: Annotated[Path, typer.Option(help="Output lmforge model directory.")],
) -> None:
    """Convert a GGUF (dequantized to fp32) into an lmforge Llama + tokenizer.json + chat template."""
    from lmforge.interop.convert import import_gguf_file

    model = import_gguf_file(path, out)
    Console().print(f"llama model ({model.num_parameters():,} parameters) written to {out}")
