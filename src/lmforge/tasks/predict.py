"""Use a fine-tuned task model directory on new text: what ``lmforge predict``, ``lmforge eval task`` and
the server's task routes call.

A directory written by ``lmforge finetune classify|ner|qa`` holds the model (``config.json`` with
``"family": "task"``), its ``tokenizer.json`` and ``task.json`` (the task and the input length it was
trained with). :meth:`TaskPredictor.load` opens all three; each method answers in plain data:

- :meth:`~TaskPredictor.classify`: the label and every label's probability;
- :meth:`~TaskPredictor.entities`: entities with their type and character span in the text (the text is
  split into words as in training, tagged, and B-/I- runs joined under the conlleval rules);
- :meth:`~TaskPredictor.answer`: the answer span of a question in a context, with its characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lmforge.data.annotated import QAExample
from lmforge.errors import ConfigError
from lmforge.evaluate.seqeval_like import get_entities
from lmforge.io import read_json
from lmforge.tasks.classify import predict_proba
from lmforge.tasks.codec import WORD, Codec
from lmforge.tasks.heads import FAMILY, TaskModel, load_task_model
from lmforge.tasks.ner import predict_tags
from lmforge.tasks.qa import predict_spans
from lmforge.tokenizers import load_tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE

TASK_FILE = "task.json"
TASKS = ("classify", "ner", "qa")


def is_task_dir(model_dir: str | Path) -> bool:
    """A directory written by ``lmforge finetune classify|ner|qa`` (its config names the family "task")."""
    config = Path(model_dir) / "config.json"
    return config.is_file() and read_json(config, "model config").get("family") == FAMILY


@dataclass
class TaskPredictor:
    model: TaskModel
    codec: Codec
    task: str  # one of TASKS
    settings: dict[str, Any]  # task.json: max_len (and stride for QA), the scores at training time
    source: Path

    @classmethod
    def load(cls, directory: str | Path, *tasks: str, device: torch.device | None = None) -> TaskPredictor:
        """Open a task model directory (on ``device``; None: CPU); with ``tasks``, one trained for another task is
        refused in one line."""
        directory = Path(directory)
        model = load_task_model(directory)
        if not (directory / TASK_FILE).is_file() or not (directory / TOKENIZER_FILE).is_file():
            raise ConfigError(f"{directory}: expected {TASK_FILE} and {TOKENIZER_FILE} next to the model "
                              "(what `lmforge finetune classify|ner|qa` writes)")
        settings = read_json(directory / TASK_FILE, "task settings")
        task = settings.get("task")
        if task not in TASKS:
            raise ConfigError(f"{directory / TASK_FILE}: task {task!r} has no predictor; known: {', '.join(TASKS)}")
        if tasks and task not in tasks:
            raise ConfigError(f"{directory}: a {task!r} model cannot {' or '.join(tasks)}")
        if device is not None:
            model.to(device)  # the predict functions send their batches where the weights are
        return cls(model, Codec.for_tokenizer(load_tokenizer(directory / TOKENIZER_FILE)), task, settings, directory)

    @property
    def max_len(self) -> int:
        return int(self.settings.get("max_len", 256 if self.task == "qa" else 128))

    def classify(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        labels = self.model.config.labels
        probs = predict_proba(self.model, self.codec, texts, self.max_len)  # (N, n_labels)
        return [{"label": labels[int(p.argmax())], "probabilities": dict(zip(labels, p.tolist(), strict=True))}
                for p in probs]

    def entities(self, texts: Sequence[str]) -> list[list[dict[str, Any]]]:
        words = [list(WORD.finditer(t)) for t in texts]
        tags = predict_tags(self.model, self.codec, [[m.group() for m in w] for w in words], self.max_len)
        out = []
        for text, ws, ts in zip(texts, words, tags, strict=True):
            spans = [(kind, ws[first].start(), ws[last].end()) for kind, first, last in get_entities(ts)]
            out.append([{"type": kind, "text": text[a:b], "start": a, "end": b} for kind, a, b in spans])
        return out

    def answer(self, questions: Sequence[str], contexts: Sequence[str]) -> list[dict[str, Any]]:
        examples = [QAExample(str(i), "", c, q) for i, (q, c) in enumerate(zip(questions, contexts, strict=True))]
        spans = predict_spans(self.model, self.codec, examples, self.max_len, int(self.settings.get("stride", 96)))
        return [{"answer": a.text, "start": a.start, "end": a.end, "score": a.score} for a in spans]
