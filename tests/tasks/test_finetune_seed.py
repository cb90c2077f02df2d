"""A fine-tune run repeats exactly with its seed: the head's initial weights, the order and dropout all follow it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from lmforge.tasks.classify import finetune_classifier
from lmforge.tasks.data import read_text_labels, split_examples
from lmforge.tasks.training import FinetuneConfig

SMS = Path(__file__).parents[1] / "data" / "sentiment" / "sms_spam" / "SMSSpamCollection"


def test_the_same_seed_gives_the_same_fine_tune(tiny_bert, wordpiece, tmp_path):
    train, test = split_examples(read_text_labels(SMS, "1", "0", header=False)[:200], 0.25, seed=0)

    def losses(seed: int, name: str) -> list[float]:
        config = FinetuneConfig(lr=2e-3, max_steps=10, batch_size=16, dropout=0.1, precision="fp32", seed=seed)
        backbone = copy.deepcopy(tiny_bert)  # the same pretrained start for every run; training changes it in place
        finetune_classifier(backbone, wordpiece, train, test, tmp_path / name, config, max_len=32)
        lines = (tmp_path / name / "metrics.jsonl").read_text().splitlines()
        return [record["loss"] for record in map(json.loads, lines) if "loss" in record]

    first = losses(0, "a")
    assert len(first) == 2 and first == losses(0, "b")  # steps 1 and 10
    assert losses(1, "c")[0] != first[0]  # another seed: another head
