"""Sequence classification: fine-tune a backbone + linear head on labelled texts (spam, sentiment).

Loss: cross-entropy of the head's logits against the class index. The whole network is
fine-tuned (not only the head) with a small learning rate, through the one Trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.classic.metrics import Report, classification_report
from lmforge.devices import module_device
from lmforge.errors import DataError
from lmforge.io import write_json
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import ExampleBatches, in_batches, pad, steps_for
from lmforge.tasks.codec import Codec
from lmforge.tasks.data import TextExample
from lmforge.tasks.heads import Pooling, TaskConfig, TaskModel, backbone_config
from lmforge.tasks.training import FinetuneConfig, run_trainer
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE

Encoded = tuple[list[int], int]  # (ids, class index)


def _collate(pad_id: int):
    def collate(rows: list[Encoded]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, mask = pad([r[0] for r in rows], pad_id)
        return ids, mask, torch.tensor([r[1] for r in rows])

    return collate


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    ids, mask, labels = batch
    return F.cross_entropy(model(ids, mask), labels)


def encode_texts(codec: Codec, texts: Sequence[str], max_len: int) -> list[list[int]]:
    out = []
    for t in texts:
        ids = codec.single(codec.ids(t), max_len)
        out.append(ids or [codec.pad_id])  # an empty text still needs one position to classify
    return out


@dataclass
class ClassifyResult:
    report: Report
    labels: list[str]
    train_seconds: float
    steps: int


@torch.no_grad()
def predict_proba(model: TaskModel, codec: Codec, texts: Sequence[str], max_len: int = 128,
                  batch_size: int = 64) -> torch.Tensor:
    """(N, n_labels) class probabilities, columns in the order of ``model.config.labels``."""
    model.eval()
    device = module_device(model)
    encoded = [(ids, 0) for ids in encode_texts(codec, texts, max_len)]
    out = [F.softmax(model(ids.to(device), mask.to(device)).float(), dim=-1).cpu()  # (B, n_labels), for the host
           for ids, mask, _ in in_batches(encoded, batch_size, _collate(codec.pad_id))]
    return torch.cat(out) if out else torch.zeros(0, len(model.config.labels))


def predict(model: TaskModel, codec: Codec, texts: Sequence[str], max_len: int = 128,
            batch_size: int = 64) -> list[str]:
    return [model.config.labels[i] for i in predict_proba(model, codec, texts, max_len, batch_size).argmax(-1)]


def finetune_classifier(backbone: nn.Module, tokenizer: Tokenizer, train: list[TextExample],
                        test: list[TextExample], out_dir: str | Path, config: FinetuneConfig,
                        pooling: Pooling | None = None, max_len: int = 128,
                        console: Console | None = None) -> ClassifyResult:
    """Fine-tune on ``train``, score accuracy / per-class F1 on ``test``, save model + tokenizer in ``out_dir``."""
    labels = sorted({e.label for e in train})
    if len(labels) < 2:
        raise DataError(f"need at least two different labels to train a classifier, found {labels}")
    unknown = [e for e in test if e.label not in labels]
    if unknown:
        raise DataError(f"test line {unknown[0].line}: label {unknown[0].label!r} never occurs in the training data "
                        f"(known: {labels})")
    codec = Codec.for_tokenizer(tokenizer)
    pooling = pooling or ("mean" if codec.bert_style else "last")  # MiniLM was trained with mean pooling
    seed_everything(config.seed)  # the head's initial weights are the run's first random draw
    model = TaskModel(TaskConfig(backbone_config(backbone), "classify", labels, pooling, config.dropout), backbone)
    index = {name: i for i, name in enumerate(labels)}
    encoded = list(zip(encode_texts(codec, [e.text for e in train], max_len), [index[e.label] for e in train],
                       strict=True))
    batches = ExampleBatches(encoded, config.batch_size, _collate(codec.pad_id), seed=config.seed)
    result = run_trainer(model, batches, classification_loss, out_dir, config,
                         steps_for(len(encoded), config.batch_size, config.epochs), console)
    tokenizer.save(Path(out_dir) / TOKENIZER_FILE)
    predicted = predict(model, codec, [e.text for e in test], max_len)
    report = classification_report([e.label for e in test], predicted, labels)
    write_json(Path(out_dir) / "task.json", {"task": "classify", "max_len": max_len, "accuracy": report.accuracy,
                                             "macro_f1": report.macro_f1, "n_test": len(test)})
    return ClassifyResult(report, labels, result.elapsed_s, result.steps)
