"""The ``lmforge`` command: argument parsing only; every command calls library code.

Each area of the roadmap contributes one sub-command module in this folder and
is registered below. User mistakes raise :class:`lmforge.errors.LmforgeError`,
which is printed as one clear line (no traceback) with exit status 2.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from lmforge.errors import LmforgeError

app = typer.Typer(
    name="lmforge",
    help="Learn LLMs from scratch and use what you build. Start with `lmforge quickstart`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@functools.cache
def _register() -> None:
    """Attach every area's commands, in the order of the roadmap (once, however often :func:`run` is called)."""
    from lmforge.cli import (
        attention,
        classic,
        compress,
        embeddings,
        evaluate,
        finetune,
        generate,
        interop,
        labs,
        models,
        pipeline,
        predict,
        pretrain,
        rag,
        report,
        serve,
        text,
        tokenizer,
        tracking,
        translate,
    )

    app.command()(pipeline.quickstart)
    app.command()(labs.roadmap)
    app.command()(labs.lab)
    app.add_typer(text.app, name="text", help="Tokenize, stem and lemmatize English text.")
    app.add_typer(tokenizer.app, name="tokenizer", help="Train tokenizers and encode/decode text.")
    app.add_typer(classic.app, name="classic", help="Bag-of-words text classifiers: train, eval, predict.")
    app.add_typer(embeddings.app, name="embeddings", help="Word2Vec/GloVe/FastText: train, neighbors, analogy, plot.")
    app.command()(pipeline.prepare)
    app.command()(pipeline.train)
    app.command()(pipeline.consolidate)
    app.command()(pretrain.pretrain)
    app.command()(generate.sample)
    app.command()(generate.chat)
    app.command()(serve.serve)
    app.command()(translate.translate)
    app.command("translate-train")(translate.train)
    app.command("translate-eval")(translate.evaluate)
    app.add_typer(finetune.app, name="finetune", help="Fine-tune: instruction tuning (SFT, DPO, LoRA) and task heads.")
    app.add_typer(evaluate.app, name="eval", help="Evaluate a model dir (perplexity, ...) or score prediction files.")
    app.command()(predict.predict)
    app.command()(report.report)
    app.command()(models.info)
    app.command()(models.export)
    app.command("import-hf")(interop.import_hf)
    app.command("import-gguf")(interop.import_gguf)
    app.command()(compress.quantize)
    app.add_typer(rag.app, name="rag", help="Retrieval (RAG): index files, search (BM25/dense/hybrid), cited answers.")
    app.command()(attention.attention)
    app.command()(tracking.plot)
    app.command()(tracking.tune)


def _print_error(message: str) -> None:
    """One line on stderr; the message is escaped because paths and usage strings contain ``[...]``."""
    Console(stderr=True).print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True)


def _usage_error_line(e: typer.TyperException) -> str:
    """``lmforge CMD: MESSAGE (see 'lmforge CMD --help')`` for an argument mistake.

    Click's own report is a usage line, a hint and the message in a box: several lines
    for one mistake, unlike every other error lmforge reports.
    """
    message = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)  # usage errors carry the command they were raised in
    if ctx is None:
        return message
    return f"{ctx.command_path}: {message} (see '{ctx.command_path} --help')"


def run(args: Sequence[str] | None = None) -> int:
    """Run ``lmforge`` with ``args`` (default: the process's) and return its exit status.

    Typer runs in click's non-standalone mode, so argument errors arrive here as
    exceptions and are reported like every :class:`LmforgeError`: one line, status 2.
    """
    _register()
    try:
        status = app(args=args, prog_name="lmforge", standalone_mode=False)
    except typer.TyperException as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # the help text is already printed (as typer itself checks)
            return e.exit_code
        _print_error(_usage_error_line(e))
        return e.exit_code
    except typer.Abort:
        Console(stderr=True).print("[yellow]aborted[/yellow]")
        return 1
    except LmforgeError as e:
        _print_error(str(e))
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/yellow]")
        return 130
    # Non-standalone click returns typer.Exit's code, or the command's own return value (None).
    return status if isinstance(status, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
