"""``lmforge text ...``: tokenize, stem and lemmatize text from files or standard input.

Argument parsing only; the work happens in :mod:`lmforge.text`. Output is one line per
input line (or per sentence with ``--sentences``), tokens separated by single spaces.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from lmforge.errors import DataError
from lmforge.io import read_text

app = typer.Typer(help="Tokenize, stem and lemmatize English text (files or stdin).", no_args_is_help=True)

FilesArg = Annotated[
    list[Path] | None,
    typer.Argument(help="UTF-8 text files; none = read standard input.", show_default=False),
]
SentencesOpt = Annotated[
    bool, typer.Option("--sentences", help="Split into sentences first: one sentence per output line.")
]


def _read_input(files: list[Path] | None) -> str:
    if files:
        return "\n".join(read_text(f) for f in files)
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as e:
        raise DataError(f"standard input: byte offset {e.start}: not valid UTF-8") from None


def _units(text: str, sentences: bool) -> list[str]:
    """The pieces printed one per line: sentences (whole text) or input lines."""
    from lmforge.text import split_sentences
    return split_sentences(text) if sentences else text.split("\n")


def _emit(files: list[Path] | None, sentences: bool, per_unit: Callable[[str], list[str]]) -> None:
    text = _read_input(files)
    if text.endswith("\n"):
        text = text[:-1]
    for unit in _units(text, sentences):
        typer.echo(" ".join(per_unit(unit)))


class Form(StrEnum):
    nfc = "NFC"
    nfkc = "NFKC"


@app.command()
def tokenize(
    files: FilesArg = None,
    sentences: SentencesOpt = False,
    form: Annotated[Form, typer.Option(help="Unicode normalization applied first.")] = Form.nfc,
    lower: Annotated[bool, typer.Option("--lower", help="Case-fold (lower-case) the text.")] = False,
    strip_accents: Annotated[bool, typer.Option("--strip-accents", help="Remove accents: café -> cafe.")] = False,
) -> None:
    """Print word tokens: contractions split (do n't), URLs and numbers kept whole.

    Example: echo "Dr. Smith didn't pay $3.50." | lmforge text tokenize
    """
    from lmforge.text import normalize_text, word_tokenize

    def run(unit: str) -> list[str]:
        return word_tokenize(normalize_text(unit, form.value, casefold=lower, accents=not strip_accents))

    _emit(files, sentences, run)


class Mode(StrEnum):
    martin = "martin"
    original = "original"


@app.command()
def stem(
    files: FilesArg = None,
    sentences: SentencesOpt = False,
    mode: Annotated[
        Mode, typer.Option(help="martin: Porter's reference implementation; original: the 1980 paper.")
    ] = Mode.martin,
) -> None:
    """Print the Porter stem of every word token (lower-case; punctuation passes through).

    Example: echo "generalizations connected" | lmforge text stem   ->  gener connect
    """
    from lmforge.text import PorterStemmer, word_tokenize
    stemmer = PorterStemmer(mode.value)
    _emit(files, sentences, lambda unit: [stemmer.stem(t) for t in word_tokenize(unit)])


class Backend(StrEnum):
    rules = "rules"
    spacy = "spacy"


@app.command()
def lemmatize(
    files: FilesArg = None,
    sentences: SentencesOpt = False,
    backend: Annotated[
        Backend, typer.Option(help="rules: lmforge's rules + exceptions (no POS); spacy: spaCy's tagger + lemmatizer.")
    ] = Backend.rules,
) -> None:
    """Print the lemma of every token: running -> run, mice -> mouse, n't -> not.

    Example: echo "The children were running" | lmforge text lemmatize   ->  the child be run
    """
    from lmforge.text import RuleLemmatizer, SpacyLemmatizer, word_tokenize
    if backend is Backend.spacy:
        spacy_lemmatizer = SpacyLemmatizer()
        _emit(files, sentences, lambda unit: [lemma for _, _, lemma in spacy_lemmatizer.analyze(unit)])
    else:
        rules = RuleLemmatizer()
        _emit(files, sentences, lambda unit: rules.lemmatize_tokens(word_tokenize(unit)))
