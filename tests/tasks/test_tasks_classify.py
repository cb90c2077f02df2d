"""Sequence classification end to end; the SMS spam quality bar runs in the slow suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.classic.metrics import majority_class
from lmforge.errors import DataError
from lmforge.tasks.classify import finetune_classifier, predict
from lmforge.tasks.codec import Codec
from lmforge.tasks.data import TextExample, read_text_labels, split_examples
from lmforge.tasks.heads import load_task_model
from lmforge.tasks.training import FinetuneConfig

SMS = Path(__file__).parents[1] / "data" / "sentiment" / "sms_spam" / "SMSSpamCollection"


def test_unknown_test_label_is_an_error(tiny_bert, wordpiece, tmp_path):
    train = [TextExample("good", "pos", 1), TextExample("bad", "neg", 2)]
    with pytest.raises(DataError, match="line 7: label 'meh' never occurs"):
        finetune_classifier(tiny_bert, wordpiece, train, [TextExample("so so", "meh", 7)], tmp_path, FinetuneConfig())


def test_classifier_trains_saves_and_predicts(tiny_bert, wordpiece, tmp_path):
    examples = read_text_labels(SMS, "1", "0", header=False)
    train, test = split_examples(examples[:600], 0.25, seed=0)
    result = finetune_classifier(tiny_bert, wordpiece, train, test, tmp_path,
                                 FinetuneConfig(lr=2e-3, max_steps=80, batch_size=32), max_len=48)
    # Most messages are ham: answering "ham" every time already scores ~0.85 here. Learning means at most half the
    # errors of that baseline, measured on this split (the absolute bar is in the slow test).
    majority = majority_class([e.label for e in train])
    baseline = sum(e.label == majority for e in test) / len(test)
    assert 1 - result.report.accuracy <= (1 - baseline) / 2, (result.report.accuracy, baseline)
    model = load_task_model(tmp_path)
    again = predict(model, Codec.for_tokenizer(wordpiece), [e.text for e in test], max_len=48)
    assert sum(a == e.label for a, e in zip(again, test, strict=True)) / len(test) == pytest.approx(
        result.report.accuracy)


@pytest.mark.slow
def test_minilm_sms_spam_accuracy_at_least_95_percent(tmp_path):
    from lmforge.tasks.backbone import load_backbone, minilm_dir

    backbone, tokenizer = load_backbone(minilm_dir())
    train, test = split_examples(read_text_labels(SMS, "1", "0", header=False), 0.2, seed=0)
    result = finetune_classifier(backbone, tokenizer, train, test, tmp_path,
                                 FinetuneConfig(epochs=1, lr=5e-5, batch_size=16), max_len=64)
    assert result.report.accuracy >= 0.95
