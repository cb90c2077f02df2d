"""Multiple-choice items from JSONL, in three schemas, prompted as lm-eval-harness prompts them.

Every line of a file is one item; the schema is recognised per line by its fields:

- **HellaSwag** (the dataset's own fields): ``activity_label``, ``ctx_a`` + ``ctx_b`` (or ``ctx``),
  ``endings`` (4 strings), ``label`` (0-3, a number or a digit string). As lm-eval's ``hellaswag``
  task: context ``activity_label + ": " + ctx_a + " " + ctx_b.capitalize()`` and each ending go
  through :func:`hellaswag_clean` (WikiHow's ``[title]`` / ``[step]`` brackets removed).
- **ARC** (``allenai/ai2_arc``'s fields): ``question``, ``choices: {"text": [...], "label": [...]}``,
  ``answerKey`` (one of the labels). Context ``"Question: " + question + "\\nAnswer:"``.
- **Your own task**: ``{"context": "...", "choices": ["...", "..."], "answer": 0}``: the model
  scores ``" " + choice`` after ``context`` (so write the context without a trailing space).

The continuation is always ``" " + choice`` (lm-eval's default target delimiter).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmforge.errors import DataError
from lmforge.io import read_json_lines


@dataclass(frozen=True)
class ChoiceItem:
    context: str
    choices: list[str]  # without the " " the model sees before each
    gold: int
    line: int  # line in the file, for messages


def hellaswag_clean(text: str) -> str:
    """lm-eval's ``hellaswag.utils.preprocess``: strip, ``" [title]"`` -> ``". "``, drop ``[...]``,
    fold double spaces."""
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def _strings(obj: Any, field: str, where: str) -> list[str]:
    if not isinstance(obj, list) or len(obj) < 2 or not all(isinstance(s, str) for s in obj):
        raise DataError(f"{where}: {field!r} must be a list of at least 2 strings")
    return obj


def _index(value: Any, n: int, field: str, where: str) -> int:
    """A gold index given as a number or a digit string (HellaSwag stores "2")."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < n:
        raise DataError(f"{where}: {field!r} must be an index 0..{n - 1} of the choices, got {value!r}")
    return value


def _hellaswag(obj: dict, where: str) -> tuple[str, list[str], int]:
    if "ctx_a" in obj and "ctx_b" in obj:
        ctx = f"{obj['ctx_a']} {str(obj['ctx_b']).capitalize()}"
    elif "ctx" in obj:  # used as given (lm-eval capitalizes ctx_b: give ctx_a and ctx_b to match it exactly)
        ctx = str(obj["ctx"])
    else:
        raise DataError(f"{where}: a HellaSwag item needs 'ctx_a' and 'ctx_b', or 'ctx'")
    endings = _strings(obj["endings"], "endings", where)
    return (hellaswag_clean(f"{obj['activity_label']}: {ctx}"), [hellaswag_clean(e) for e in endings],
            _index(obj["label"], len(endings), "label", where))


def _arc(obj: dict, where: str) -> tuple[str, list[str], int]:
    choices = obj["choices"]
    if not isinstance(choices, dict) or "text" not in choices or "label" not in choices:
        raise DataError(f"{where}: ARC 'choices' must be an object with 'text' and 'label' lists")
    texts = _strings(choices["text"], "choices.text", where)
    labels = [str(x) for x in choices["label"]]
    if len(labels) != len(texts):
        raise DataError(f"{where}: {len(texts)} choices.text but {len(labels)} choices.label")
    if str(obj["answerKey"]) not in labels:
        raise DataError(f"{where}: answerKey {obj['answerKey']!r} is not one of the labels {labels}")
    return f"Question: {obj['question']}\nAnswer:", texts, labels.index(str(obj["answerKey"]))


def _own(obj: dict, where: str) -> tuple[str, list[str], int]:
    choices = _strings(obj["choices"], "choices", where)
    return str(obj["context"]), choices, _index(obj["answer"], len(choices), "answer", where)


# schema name -> (fields that identify it, parser)
_SCHEMAS = {
    "hellaswag": ({"activity_label", "endings", "label"}, _hellaswag),
    "arc": ({"question", "choices", "answerKey"}, _arc),
    "own": ({"context", "choices", "answer"}, _own),
}


def read_choice_items(path: str | Path, limit: int | None = None) -> list[ChoiceItem]:
    """Every item of a JSONL file (the first ``limit``), each checked: gold in range, no empty choice."""
    path = Path(path)
    items = []
    for line, obj in read_json_lines(path):
        if limit is not None and len(items) >= limit:
            break
        where = f"{path}: line {line}"
        parse = next((p for fields, p in _SCHEMAS.values() if fields <= obj.keys()), None)
        if parse is None:
            raise DataError(f"{where}: neither a HellaSwag item (activity_label, ctx_a/ctx_b, endings, label), "
                            "an ARC item (question, choices, answerKey) nor an own item (context, choices, answer); "
                            f"got fields {sorted(obj)}")
        context, choices, gold = parse(obj, where)
        if not context.strip():
            raise DataError(f"{where}: the context is empty")
        empty = [i for i, c in enumerate(choices) if not c.strip()]
        if empty:
            raise DataError(f"{where}: choice {empty[0]} is empty")
        items.append(ChoiceItem(context, choices, gold, line))
    if not items:
        raise DataError(f"{path}: no items (the file is empty)")
    return items
