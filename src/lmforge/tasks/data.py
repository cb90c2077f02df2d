"""Task data readers: CSV/TSV and JSONL (labelled texts), CoNLL (tagged tokens), SQuAD json (QA).

Every reader is strict: a malformed line is a :class:`~lmforge.errors.DataError` naming the
file, the line (or the JSON path for SQuAD) and the field, and saying what was expected.
Nothing is dropped silently, because a quietly skipped example changes the reported metric.
CSV/TSV parsing is shared with :mod:`lmforge.classic.data` (same quoting rules, same messages).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.classic.data import read_labeled, stratified_split
from lmforge.errors import DataError
from lmforge.io import read_json, read_text


@dataclass
class TextExample:
    text: str
    label: str
    line: int  # where it came from, for messages


def read_jsonl(path: str | os.PathLike[str], required: dict[str, type] | None = None) -> list[tuple[int, dict]]:
    """``(line, object)`` per non-blank line; each object must have the ``required`` fields with those types."""
    path = Path(path)
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}: line {number}, column {e.colno}: invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}: line {number}: expected a JSON object, got {type(obj).__name__}")
        for name, kind in (required or {}).items():
            if name not in obj:
                raise DataError(f"{path}: line {number}: missing field {name!r} (fields present: {sorted(obj)})")
            if not isinstance(obj[name], kind):
                raise DataError(f"{path}: line {number}: field {name!r} should be a {kind.__name__}, "
                                f"got {type(obj[name]).__name__}")
        rows.append((number, obj))
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


@dataclass
class TaggedSentence:
    tokens: list[str]
    tags: list[str]
    line: int  # first line of the sentence


def _check_tag(path: Path, line: int, tag: str) -> None:
    if tag != "O" and not (len(tag) > 2 and tag[:2] in ("B-", "I-")):
        raise DataError(f"{path}: line {line}: tag {tag!r} is not BIO (expected O, B-TYPE or I-TYPE)")


def read_conll(path: str | os.PathLike[str], tag_column: int = -1) -> list[TaggedSentence]:
    """CoNLL: one ``token<TAB>...<TAB>tag`` per line, a blank (or whitespace-only) line between sentences."""
    path = Path(path)
    sentences: list[TaggedSentence] = []
    current: TaggedSentence | None = None
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            current = None
            continue
        if line.startswith("-DOCSTART-"):
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if len(columns) < 2:
            raise DataError(f"{path}: line {number}: expected 'token<TAB>tag', got {line!r}")
        token, tag = columns[0], columns[tag_column].strip()
        if not token:
            raise DataError(f"{path}: line {number}: empty token")
        _check_tag(path, number, tag)
        if current is None:
            current = TaggedSentence([], [], number)
            sentences.append(current)
        current.tokens.append(token)
        current.tags.append(tag)
    if not sentences:
        raise DataError(f"{path}: no sentences found (expected CoNLL lines 'token<TAB>tag')")
    return sentences


@dataclass
class QAExample:
    id: str
    title: str
    context: str
    question: str
    answers: list[str] = field(default_factory=list)
    answer_starts: list[int] = field(default_factory=list)  # character offsets into context


def _need(obj: Any, key: str, kind: type, where: str, path: Path) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise DataError(f"{path}: {where}: missing field {key!r}")
    if not isinstance(obj[key], kind) or isinstance(obj[key], bool):
        raise DataError(f"{path}: {where}.{key}: expected {kind.__name__}, got {type(obj[key]).__name__}")
    return obj[key]


def read_squad(path: str | os.PathLike[str]) -> list[QAExample]:
    """SQuAD v1.1 json. Each answer's ``answer_start`` must point at its text inside the context;
    a mismatch is an error naming the JSON path (``data[3].paragraphs[0].qas[2].answers[0]``)."""
    path = Path(path)
    doc = read_json(path, "SQuAD file")
    examples = []
    for a, article in enumerate(_need(doc, "data", list, "top level", path)):
        title = str(article.get("title", "")) if isinstance(article, dict) else ""
        for p, para in enumerate(_need(article, "paragraphs", list, f"data[{a}]", path)):
            where = f"data[{a}].paragraphs[{p}]"
            context = _need(para, "context", str, where, path)
            for q, qa in enumerate(_need(para, "qas", list, where, path)):
                qwhere = f"{where}.qas[{q}]"
                ex = QAExample(str(_need(qa, "id", str, qwhere, path)), title, context,
                               _need(qa, "question", str, qwhere, path))
                for i, ans in enumerate(_need(qa, "answers", list, qwhere, path)):
                    awhere = f"{qwhere}.answers[{i}]"
                    text, start = _need(ans, "text", str, awhere, path), _need(ans, "answer_start", int, awhere, path)
                    if context[start:start + len(text)] != text:
                        raise DataError(f"{path}: {awhere}: answer_start {start} does not point at {text!r} "
                                        f"(the context there reads {context[start:start + len(text)]!r})")
                    ex.answers.append(text)
                    ex.answer_starts.append(start)
                examples.append(ex)
    if not examples:
        raise DataError(f"{path}: no questions found (expected SQuAD v1.1 json: data[].paragraphs[].qas[])")
    return examples


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
