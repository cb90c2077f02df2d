"""Task data readers: CSV/TSV and JSONL (labelled texts), and the task splits. The CoNLL and
SQuAD readers live in :mod:`lmforge.data.annotated`, where ``evaluate`` can read them too.

Every reader is strict: a malformed line is a :class:`~lmforge.errors.DataError` naming the
file, the line and the field, and saying what was expected.
Nothing is dropped silently, because a quietly skipped example changes the reported metric.
CSV/TSV parsing is shared with :mod:`lmforge.classic.data` (same quoting rules, same messages).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lmforge.classic.data import read_labeled, stratified_split
from lmforge.data.annotated import QAExample
from lmforge.errors import DataError
from lmforge.io import read_json_lines


@dataclass
class TextExample:
    text: str
    label: str
    line: int  # where it came from, for messages


def read_jsonl(path: str | os.PathLike[str], required: dict[str, type] | None = None) -> list[tuple[int, dict]]:
    """``(line, object)`` per non-blank line; each object must have the ``required`` fields with those types."""
    path = Path(path)
    rows = read_json_lines(path)
    for number, obj in rows:
        for name, kind in (required or {}).items():
            if name not in obj:
                raise DataError(f"{path}: line {number}: missing field {name!r} (fields present: {sorted(obj)})")
            if not isinstance(obj[name], kind):
                raise DataError(f"{path}: line {number}: field {name!r} should be a {kind.__name__}, "
                                f"got {type(obj[name]).__name__}")
    if not rows:
        raise DataError(f"{path}: no examples (the file is empty)")
    return rows


def read_text_labels(path: str | os.PathLike[str], text_field: str = "text", label_field: str = "label",
                     delimiter: str | None = None, header: bool = True) -> list[TextExample]:
    """Labelled texts from ``.jsonl`` (fields by name) or CSV/TSV (columns by header name, or 0-based
    index with ``header=False``; files without a known suffix, like ``SMSSpamCollection``, are read as TSV)."""
    path = Path(path)
    if path.suffix.lower() == ".jsonl":
        rows = read_jsonl(path, {text_field: str})
        out = []
        for line, obj in rows:
            if label_field not in obj or isinstance(obj[label_field], (dict, list)) or obj[label_field] is None:
                raise DataError(f"{path}: line {line}: field {label_field!r} must be a string or number")
            out.append(TextExample(obj[text_field], str(obj[label_field]), line))
        return out
    if path.suffix.lower() not in (".csv", ".tsv", ".txt") and delimiter is None:
        delimiter = "\t"
    data = read_labeled(path, text_field, label_field, delimiter=delimiter, header=header)
    return [TextExample(t, y, n) for t, y, n in zip(data.texts, data.labels, data.lines, strict=True)]


def split_squad_by_article(examples: list[QAExample], n_eval_articles: int) -> tuple[list[QAExample], list[QAExample]]:
    """Train on the first articles, evaluate on the last ``n_eval_articles``: no context is in both."""
    titles = list(dict.fromkeys(e.title for e in examples))
    held_out = set(titles[-n_eval_articles:]) if n_eval_articles else set()
    return [e for e in examples if e.title not in held_out], [e for e in examples if e.title in held_out]


def split_examples(examples: list[TextExample], test_fraction: float = 0.2,
                   seed: int = 0) -> tuple[list[TextExample], list[TextExample]]:
    """Seeded stratified train/test split (the one :mod:`lmforge.classic` uses, so baselines compare)."""
    train_idx, test_idx = stratified_split([e.label for e in examples], test_fraction, seed)
    return [examples[i] for i in train_idx], [examples[i] for i in test_idx]
