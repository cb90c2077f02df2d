"""Extractive QA: doc-stride windows keep every answer, targets map back to the answer text."""

from __future__ import annotations

from pathlib import Path

import torch

from lmforge.data.annotated import read_squad
from lmforge.evaluate.squad import squad_scores
from lmforge.tasks.codec import Codec
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config
from lmforge.tasks.qa import best_span, finetune_qa, make_windows, predict_answers
from lmforge.tasks.training import FinetuneConfig

SQUAD = Path(__file__).parents[1] / "data" / "squad_v11" / "squad_v11_dev_part1_2articles_6paras.json"


def _target_text(window, ctx, example) -> str:
    first, last = window.start - window.offset + window.context_start, window.end - window.offset + window.context_start
    return example.context[ctx.char_start[first]:ctx.char_end[last]]


def test_windows_cover_every_answer_and_targets_decode_to_it(wordpiece):
    codec = Codec.for_tokenizer(wordpiece)
    examples = read_squad(SQUAD)
    windows, contexts = make_windows(codec, examples, max_len=96, stride=32)
    assert len(windows) > 2 * len(examples)  # short windows: contexts are split
    assert all(len(w.ids) <= 96 and len(w.ids) == len(w.type_ids) for w in windows)
    decoded = {}
    for w in windows:
        if w.start:
            decoded.setdefault(w.example, _target_text(w, contexts[w.example], examples[w.example]))
    assert len(decoded) == len(examples)  # every answer lies wholly inside some window
    scores = squad_scores([decoded[i] for i in range(len(examples))], [e.answers for e in examples])
    assert scores["exact_match"] == 100.0


def test_best_span_respects_order_and_length():
    start = [0.0, 5.0, 0.0, 0.0]
    end = [9.0, 0.0, 0.0, 4.0]
    assert best_span(start, end, n_best=4, max_answer_tokens=30) == (9.0, 1, 3)  # end 0 is before start 1
    assert best_span(start, end, n_best=4, max_answer_tokens=2)[1:] == (0, 0)


def test_finetune_qa_pipeline_runs(wordpiece, tiny_bert, tmp_path):
    examples = read_squad(SQUAD)
    result = finetune_qa(tiny_bert, wordpiece, examples[:40], examples[-10:], tmp_path,
                         FinetuneConfig(lr=1e-3, max_steps=5, batch_size=8), max_len=128, stride=64)
    assert result.n_eval == 10 and 0.0 <= result.f1 <= 100.0
    model = TaskModel(TaskConfig(backbone_config(tiny_bert), "qa", ["start", "end"]), tiny_bert)
    answers = predict_answers(model, Codec.for_tokenizer(wordpiece), examples[:3], max_len=128, stride=64)
    assert all(a and a in e.context for a, e in zip(answers, examples[:3], strict=True))
    assert torch.isfinite(torch.tensor(result.f1))
