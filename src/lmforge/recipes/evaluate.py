"""``lmforge eval`` on a model directory: open the model, read the data, call the metric in ``evaluate/``.

The metrics take plain callables and ids (``evaluate`` knows no model); this module is where a
model directory meets them, checked for what the metric needs before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch

from lmforge.classic.metrics import classification_report
from lmforge.data.annotated import read_conll, read_squad
from lmforge.errors import ConfigError, DataError
from lmforge.evaluate.choice import ChoiceResult, score_choices
from lmforge.evaluate.choice_items import read_choice_items
from lmforge.evaluate.perplexity import PerplexityResult, sliding_window_perplexity
from lmforge.evaluate.seqeval_like import entity_report
from lmforge.evaluate.squad import squad_scores
from lmforge.infer.loading import load_model_dir
from lmforge.io import atomic_write, read_text
from lmforge.models.base import Capability
from lmforge.tasks.data import read_text_labels
from lmforge.tasks.ner import predict_tags
from lmforge.tasks.predict import TaskPredictor, is_task_dir
from lmforge.tasks.sft import load_chat_model
from lmforge.tasks.summarize import fit_to_context, generate_summaries, read_summaries, rouge


def _load_lm(model_dir: Path, what: str, device: torch.device | None):
    """A decoder-only LM on ``device`` and its tokenizer; a fine-tuned task directory (no LM head) is refused
    by name."""
    if is_task_dir(model_dir):
        raise ConfigError(f"{model_dir}: a fine-tuned task model has no language-model head; {what} needs a "
                          "decoder-only language model (score it with `lmforge eval task`)")
    return load_model_dir(model_dir, Capability.GENERATE, device=device)


def run_perplexity(model_dir: Path, data: Path, stride: int | None = None, context_length: int | None = None,
                   batch_size: int = 4, device: torch.device | None = None) -> PerplexityResult:
    """Perplexity of a decoder-only LM directory on a UTF-8 text file; ``context_length`` defaults to the
    model's own and may only shrink it (``stride`` defaults to half the window)."""
    model, tokenizer = _load_lm(model_dir, "perplexity", device)
    window = model.context_length if context_length is None else min(context_length, model.context_length)
    text = read_text(data)
    ids = tokenizer.encode(text)
    if len(ids) < 2:
        raise DataError(f"{data}: {len(ids)} token(s); perplexity needs a text of at least 2 tokens")
    return sliding_window_perplexity(model, ids, len(text.encode("utf-8")), window,
                                     stride if stride is not None else max(1, window // 2), batch_size)


def run_choice(model_dir: Path, data: Path, limit: int | None = None, batch_size: int = 16,
               out: Path | None = None, device: torch.device | None = None) -> ChoiceResult:
    """acc / acc_norm of a decoder-only LM directory on a multiple-choice JSONL file (HellaSwag, ARC or own
    schema, see :mod:`lmforge.evaluate.choice_items`); ``out``: one JSON line per item with its scores."""
    items = read_choice_items(data, limit)  # the data is checked before the model is loaded
    model, tokenizer = _load_lm(model_dir, "multiple choice by log-likelihood", device)
    result = score_choices(model, tokenizer.encode, items, model.context_length, batch_size, str(data))
    if out is not None:
        with atomic_write(out) as f:
            f.writelines(json.dumps(dataclasses.asdict(s)) + "\n" for s in result.items)
    return result


def run_task_eval(model_dir: Path, data: Path, limit: int | None = None, text_col: str = "text",
                  label_col: str = "label", header: bool = True,
                  device: torch.device | None = None) -> dict[str, float]:
    """Score a fine-tuned classify / NER / QA directory on labelled data in its task's format: labelled texts
    (.csv/.tsv/.jsonl) -> accuracy and macro-F1; CoNLL -> entity precision/recall/F1; SQuAD json -> EM/F1."""
    predictor = TaskPredictor.load(model_dir, device=device)
    if predictor.task == "classify":
        examples = read_text_labels(data, text_col, label_col, header=header)[:limit]
        unknown = [e for e in examples if e.label not in predictor.model.config.labels]
        if unknown:
            raise DataError(f"{data}: line {unknown[0].line}: label {unknown[0].label!r} is not one the model "
                            f"knows ({', '.join(predictor.model.config.labels)})")
        predicted = [p["label"] for p in predictor.classify([e.text for e in examples])]
        report = classification_report([e.label for e in examples], predicted, predictor.model.config.labels)
        return {"accuracy": report.accuracy, "macro_f1": report.macro_f1, "n": len(examples)}
    if predictor.task == "ner":
        sentences = read_conll(data)[:limit]
        tags = predict_tags(predictor.model, predictor.codec, [s.tokens for s in sentences], predictor.max_len)
        scores = entity_report([s.tags for s in sentences], tags)
        return {"precision": scores.precision, "recall": scores.recall, "f1": scores.f1, "n": len(sentences)}
    questions = read_squad(data)[:limit]
    answers = predictor.answer([q.question for q in questions], [q.context for q in questions])
    return {**squad_scores([a["answer"] for a in answers], [q.answers for q in questions]), "n": len(questions)}


def run_summarize_eval(model_dir: Path, data: Path, limit: int | None = None,
                       max_new_tokens: int = 64, device: torch.device | None = None) -> dict[str, float]:
    """ROUGE-1/2/L (stemmed) of a chat model's greedy summaries of ``{document, summary}`` records."""
    records = read_summaries(data)[:limit]
    model, tokenizer, template = load_chat_model(model_dir, device)
    # documents keep their beginning, cut so that the chat and the reference summary fit the window
    prompts = fit_to_context(records, tokenizer, template, model.context_length - max_new_tokens)
    predicted = generate_summaries(model, tokenizer, template, prompts, max_new_tokens)
    return {**rouge([r["summary"] for r in records], predicted), "n": len(records)}
