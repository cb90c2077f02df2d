"""Annotated evaluation formats: CoNLL (tagged tokens) and SQuAD json (extractive QA).

They sit in ``data`` rather than with the fine-tuning tasks because two layers read them:
``tasks`` trains on them and ``evaluate`` scores prediction files against them, and
``evaluate`` must not depend on ``tasks``. Both readers are strict: a malformed line is a
:class:`~lmforge.errors.DataError` naming the file, the line (or the JSON path for SQuAD)
and the field, because a quietly skipped example changes the reported metric.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmforge.errors import DataError
from lmforge.io import read_json, read_text


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
