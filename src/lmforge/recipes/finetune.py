"""One call per task from files on disk to a fine-tuned model and its score (what the CLI runs).

Each reads the data (with the strict readers), opens the backbone, fine-tunes through the
one Trainer and returns the task's result; the model directory written to ``out`` holds
``config.json`` + ``model.safetensors`` + ``tokenizer.json`` + ``task.json`` (settings and score).
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from lmforge.data.annotated import read_conll, read_squad
from lmforge.tasks.backbone import load_backbone, minilm_dir
from lmforge.tasks.classify import ClassifyResult, finetune_classifier
from lmforge.tasks.data import read_text_labels, split_examples, split_squad_by_article
from lmforge.tasks.heads import Pooling
from lmforge.tasks.ner import NerResult, finetune_ner
from lmforge.tasks.qa import QAResult, finetune_qa
from lmforge.tasks.training import FinetuneConfig
from lmforge.train.distributed import SINGLE


def _backbone(model: str | Path | None):
    SINGLE.check_launch()  # under torchrun: refused before a model is loaded or anything is written
    return load_backbone(model if model is not None else minilm_dir())


def run_classify(train: Path, out: Path, config: FinetuneConfig, model: Path | None = None, test: Path | None = None,
                 text_col: str = "text", label_col: str = "label", header: bool = True,
                 test_fraction: float = 0.2, pooling: Pooling | None = None, max_len: int = 128,
                 console: Console | None = None) -> ClassifyResult:
    """Without ``test``, a seeded stratified ``test_fraction`` of ``train`` is held out."""
    examples = read_text_labels(train, text_col, label_col, header=header)
    if test is None:
        train_set, test_set = split_examples(examples, test_fraction, config.seed)
    else:
        train_set, test_set = examples, read_text_labels(test, text_col, label_col, header=header)
    backbone, tokenizer = _backbone(model)
    return finetune_classifier(backbone, tokenizer, train_set, test_set, out, config, pooling, max_len, console)


def run_ner(train: Path, test: Path, out: Path, config: FinetuneConfig, model: Path | None = None,
            max_len: int = 128, console: Console | None = None) -> NerResult:
    backbone, tokenizer = _backbone(model)
    return finetune_ner(backbone, tokenizer, read_conll(train), read_conll(test), out, config, max_len, console)


def run_qa(train: Path, out: Path, config: FinetuneConfig, model: Path | None = None, test: Path | None = None,
           eval_articles: int = 4, max_eval: int | None = None, max_len: int = 256, stride: int = 96,
           console: Console | None = None) -> QAResult:
    """Without ``test``, the last ``eval_articles`` articles of ``train`` are held out (no shared contexts)."""
    examples = read_squad(train)
    if test is None:
        train_set, test_set = split_squad_by_article(examples, eval_articles)
    else:
        train_set, test_set = examples, read_squad(test)
    backbone, tokenizer = _backbone(model)
    return finetune_qa(backbone, tokenizer, train_set, test_set[:max_eval], out, config, max_len, stride, console)
