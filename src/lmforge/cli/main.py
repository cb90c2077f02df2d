"""The ``lmforge`` command: argument parsing only; every command calls library code.

Each area of the roadmap contributes one sub-command module in this folder and
is registered below. User mistakes raise :class:`lmforge.errors.LmforgeError`,
which is printed as one clear line (no traceback) with exit status 2.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from lmforge.errors import LmforgeError

app = typer.Typer(
    name="lmforge",
    help="Learn LLMs from scratch and use what you build. Start with `lmforge quickstart`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    """Attach every area's commands, in the order of the roadmap."""
    from lmforge.cli import (
        attention,
        classic,
        embeddings,
        evaluate,
        finetune,
        generate,
        interop,
        models,
        pipeline,
        pretrain,
        serve,
        text,
        tokenizer,
        translate,
    )

    app.command()(pipeline.quickstart)
    app.add_typer(text.app, name="text", help="Tokenize, stem and lemmatize English text.")
    app.add_typer(tokenizer.app, name="tokenizer", help="Train tokenizers and encode/decode text.")
    app.add_typer(classic.app, name="classic", help="Bag-of-words text classifiers: train, eval, predict.")
    app.add_typer(embeddings.app, name="embeddings", help="Word2Vec/GloVe/FastText: train, neighbors, analogy, plot.")
    app.command()(pipeline.prepare)
    app.command()(pipeline.train)
    app.command()(pretrain.pretrain)
    app.command()(generate.sample)
    app.command()(generate.chat)
    app.command()(serve.serve)
    app.command()(translate.translate)
    app.command("translate-train")(translate.train)
    app.command("translate-eval")(translate.evaluate)
    app.add_typer(finetune.app, name="finetune", help="Fine-tune: instruction tuning (SFT, DPO, LoRA) and task heads.")
    app.add_typer(evaluate.app, name="eval", help="Score prediction files: SQuAD EM/F1, NER F1, ROUGE, BLEU.")
    app.command()(models.info)
    app.command()(models.export)
    app.command("import-hf")(interop.import_hf)
    app.command("import-gguf")(interop.import_gguf)
    app.command()(attention.attention)


def main() -> None:
    _register()
    try:
        app()
    except LmforgeError as e:
        Console(stderr=True).print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        sys.exit(130)


if __name__ == "__main__":
    main()
