"""``lmforge tokenizer ...``: train, encode and decode from the command line.

Argument parsing only; the work happens in :mod:`lmforge.tokenizers`.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lmforge.errors import ConfigError, DataError
from lmforge.io import read_text
from lmforge.tokenizers import load_tokenizer, train_tokenizer

app = typer.Typer(
    help="Train a tokenizer on text files, or encode/decode with a saved tokenizer.json.",
    no_args_is_help=True,
)

TokenizerOpt = Annotated[
    Path,
    typer.Option(
        "--tokenizer", "-t", help="A tokenizer.json (or a folder containing one), e.g. from `train`."
    ),
]


class Kind(StrEnum):
    bpe = "bpe"
    char = "char"
    wordpiece = "wordpiece"
    unigram = "unigram"


@app.command()
def train(
    files: Annotated[list[Path], typer.Argument(help="UTF-8 text files to learn from.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; gets a tokenizer.json.")],
    kind: Annotated[
        Kind, typer.Option(help="bpe: GPT-2 style byte-level BPE. char: one token per character. "
                           "wordpiece: BERT-style (uncased, ## continuations). unigram: SentencePiece-style "
                           "Unigram LM (EM over a seed vocabulary, then pruning; always has <unk>).")
    ] = Kind.bpe,
    vocab_size: Annotated[
        int | None,
        typer.Option(help="Total ids for bpe (including 256 bytes and special tokens), wordpiece or unigram.",
                     show_default="4096"),
    ] = None,
    special: Annotated[
        list[str] | None,
        typer.Option(help="Special token; repeat for several.", show_default="<|endoftext|>"),
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar while learning merges.")] = False,
) -> None:
    """Learn a tokenizer from FILES and write OUT/tokenizer.json (Hugging Face format).

    Example: lmforge tokenizer train input.txt --kind bpe --vocab-size 4096 --out tok/
    """
    if kind is Kind.char and vocab_size is not None:
        raise ConfigError("--vocab-size does not apply to --kind char (a char vocab is the corpus' characters)")
    if kind is Kind.wordpiece and special:
        raise ConfigError("--special does not apply to --kind wordpiece: it always has [PAD] [UNK] [CLS] [SEP] [MASK]")
    if kind is not Kind.char and vocab_size is None:
        vocab_size = 4096
    texts = [read_text(f) for f in files]
    if not any(texts):
        raise DataError(f"the training corpus is empty: {', '.join(map(str, files))} contain no text")
    start = time.perf_counter()
    tok = train_tokenizer(kind.value, texts, vocab_size, special or ["<|endoftext|>"], progress=progress)
    path = out / "tokenizer.json"
    tok.save(path)
    typer.echo(
        f"wrote {path} ({kind.value}, vocab size {tok.vocab_size}) in {time.perf_counter() - start:.1f} s"
    )


@app.command()
def encode(
    tokenizer: TokenizerOpt,
    text: Annotated[
        str | None, typer.Argument(help="Text to encode (or use --file).", show_default=False)
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Encode this UTF-8 file instead.")] = None,
    allow_special: Annotated[
        bool, typer.Option(help="Recognise special tokens such as <|endoftext|> in the text.")
    ] = False,
) -> None:
    """Print the token ids of TEXT (or of --file), separated by spaces."""
    if (text is None) == (file is None):
        raise ConfigError("give exactly one of TEXT or --file")
    source = read_text(file) if file is not None else text
    ids = load_tokenizer(tokenizer).encode(source, "all" if allow_special else "none")
    typer.echo(" ".join(map(str, ids)))


@app.command()
def decode(
    tokenizer: TokenizerOpt,
    ids: Annotated[list[int], typer.Argument(help="Token ids, e.g. 15496 995.", show_default=False)],
) -> None:
    """Print the text of token IDS."""
    typer.echo(load_tokenizer(tokenizer).decode(ids))
