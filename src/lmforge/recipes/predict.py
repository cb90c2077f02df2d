"""``lmforge predict``: run what you fine-tuned on new text, one result per input.

- a classify / NER directory: a text -> its label and probabilities / its entities with character spans;
- a QA directory: a question and ``context`` -> the answer span;
- any decoder-only chat model (e.g. from ``lmforge finetune summarize``): a document -> its greedy summary.

Inputs come as one text (with ``context`` for QA) or as a JSONL file with one input per line: field
``text`` (classify, NER), ``question`` + ``context`` (QA) or ``document`` (summaries). Each result repeats
the input's fields next to the prediction, so the output lines can be read on their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lmforge.errors import ConfigError
from lmforge.tasks.data import read_jsonl
from lmforge.tasks.predict import TaskPredictor, is_task_dir
from lmforge.tasks.sft import load_chat_model
from lmforge.tasks.summarize import fit_to_context, generate_summaries

FIELDS = {"classify": ("text",), "ner": ("text",), "qa": ("question", "context"), "summarize": ("document",)}


def _inputs(task: str, text: str | None, file: Path | None, context: str | None) -> list[dict[str, str]]:
    if (text is None) == (file is None):
        raise ConfigError("give either a TEXT argument or --file FILE.jsonl (one input per line)")
    if file is not None:
        return [obj for _, obj in read_jsonl(file, dict.fromkeys(FIELDS[task], str))]
    if task == "qa":
        if context is None:
            raise ConfigError("a QA model answers a question about a context: give the question as TEXT and "
                              "the passage with --context")
        return [{"question": text, "context": context}]
    if context is not None:
        raise ConfigError(f"--context is for QA models; this is a {task!r} model")
    return [{FIELDS[task][0]: text}]


def run_predict(model_dir: Path, text: str | None = None, file: Path | None = None, context: str | None = None,
                max_new_tokens: int = 64, device: torch.device | None = None) -> list[dict[str, Any]]:
    if is_task_dir(model_dir):
        predictor = TaskPredictor.load(model_dir, device=device)
        rows = _inputs(predictor.task, text, file, context)
        if predictor.task == "classify":
            out = predictor.classify([r["text"] for r in rows])
        elif predictor.task == "ner":
            out = [{"entities": e} for e in predictor.entities([r["text"] for r in rows])]
        else:
            out = predictor.answer([r["question"] for r in rows], [r["context"] for r in rows])
    else:
        rows = _inputs("summarize", text, file, context)
        model, tokenizer, template = load_chat_model(model_dir, device)  # refuses a model that cannot generate
        records = [{"document": r["document"], "summary": ""} for r in rows]
        prompts = fit_to_context(records, tokenizer, template, model.context_length - max_new_tokens)
        out = [{"summary": s} for s in generate_summaries(model, tokenizer, template, prompts, max_new_tokens)]
    return [{**r, **o} for r, o in zip(rows, out, strict=True)]
