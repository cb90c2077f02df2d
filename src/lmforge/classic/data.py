"""Reading labeled text files (CSV / TSV) with errors that name the file, line and column, and a seeded split.

- ``.csv``: comma-separated with standard CSV quoting (fields may contain commas
  and newlines inside quotes).
- ``.tsv`` / ``.txt``: tab-separated, *no* quoting: a ``"`` is an ordinary character,
  which is how files such as the UCI sentiment sentences are written.
- With a header row, columns are named (``--text-col review``); without one
  (``header=False``) they are 0-based indices (``--text-col 0``).

Nothing is skipped silently: a blank row, an empty text or label, or a row too short
to have the column is an error pointing at that line.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmforge.errors import ConfigError, DataError
from lmforge.io import read_text


@dataclass
class LabeledTexts:
    """Texts, their labels, and the line each example starts on (for error messages)."""

    path: Path
    texts: list[str]
    labels: list[str]
    lines: list[int]
    label_column: str  # as the user named it, for messages


def _delimiter(path: Path, delimiter: str | None) -> str:
    if delimiter is not None:
        if len(delimiter) != 1:
            raise ConfigError(f"the delimiter must be one character, got {delimiter!r}")
        return delimiter
    return "\t" if path.suffix.lower() in (".tsv", ".txt") else ","


def _column_index(path: Path, column: str, header: list[str] | None) -> int:
    if header is not None:
        if column not in header:
            raise DataError(f"{path}: line 1: no column {column!r} in the header (columns: {', '.join(header)})")
        return header.index(column)
    if not column.isdigit():
        raise ConfigError(f"without a header row, columns are 0-based numbers (e.g. --text-col 0), got {column!r}")
    return int(column)


def _numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """``(line, row)`` pairs: the physical line each row starts on (a quoted field may span lines)."""
    end = 0
    for row in reader:
        start, end = end + 1, reader.line_num
        yield start, row


def read_labeled(
    path: str | os.PathLike[str],
    text_col: str,
    label_col: str,
    delimiter: str | None = None,
    header: bool = True,
) -> LabeledTexts:
    """Read (text, label) pairs from a CSV/TSV file; see the module docstring for the format rules."""
    path = Path(path)
    sep = _delimiter(path, delimiter)
    content = read_text(path)
    quoting = csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=sep, quoting=quoting)
    rows = _numbered(reader)
    try:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path}: the file is empty")
        names = first[1] if header else None
        text_i, label_i = _column_index(path, text_col, names), _column_index(path, label_col, names)
        out = LabeledTexts(path, [], [], [], label_col)
        for line, row in rows if header else itertools.chain([first], rows):
            if not row or all(not field.strip() for field in row):
                raise DataError(f"{path}: line {line}: empty row (remove blank lines)")
            for index, name in ((text_i, text_col), (label_i, label_col)):
                if index >= len(row):
                    raise DataError(
                        f"{path}: line {line}: column {name!r} missing (row has {len(row)} fields, "
                        f"expected at least {index + 1}; delimiter {sep!r})"
                    )
                if not row[index].strip():
                    raise DataError(f"{path}: line {line}: column {name!r} is empty")
            out.texts.append(row[text_i])
            out.labels.append(row[label_i].strip())
            out.lines.append(line)
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({e})") from None
    if not out.texts:
        raise DataError(f"{path}: no examples after the header row")
    return out


def check_known_labels(data: LabeledTexts, known: list[str]) -> None:
    """Raise on the first label the model was not trained on, naming file, line and column."""
    allowed = set(known)
    for label, line in zip(data.labels, data.lines, strict=True):
        if label not in allowed:
            raise DataError(
                f"{data.path}: line {line}: column {data.label_column!r}: unknown label {label!r} "
                f"(the model knows: {', '.join(known)})"
            )


def stratified_split(
    labels: list[str] | np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded train/test indices that keep each class's share: per class (sorted by name), shuffle its
    examples with ``numpy.random.default_rng(seed)`` and put ``round(test_fraction * n_class)`` in test."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"the test fraction must be between 0 and 1, got {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[: round(test_fraction * len(members))])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx
