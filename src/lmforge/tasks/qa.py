"""Extractive question answering (SQuAD): predict where the answer starts and ends in the context.

Input: ``[CLS] question [SEP] context window [SEP]`` with segment ids 0 / 1. The head gives
two logits per token; softmax over positions gives P(start = i) and P(end = j).

- **Doc-stride windows**: a context longer than the model input is cut into overlapping
  windows (``stride`` tokens apart), so every answer lies wholly inside at least one window.
  A window that does not contain the answer is trained to point at position 0 (``[CLS]``),
  i.e. "not here".
- **Alignment**: the context is split into words with character spans (``\\w+`` runs and
  single punctuation marks, as BERT splits), each word into sub-tokens; an answer's
  character span maps to the first sub-token of its first word and the last of its last.
- **Post-processing**: over all windows of a question, take the ``n_best`` start and end
  positions, keep pairs with ``start <= end`` inside the context and at most
  ``max_answer_tokens`` long, score ``start_logit + end_logit``, and return the best pair's
  *original* context text (from the first word's first to the last word's last character).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.data.annotated import QAExample
from lmforge.devices import module_device
from lmforge.errors import ConfigError
from lmforge.evaluate.squad import squad_scores
from lmforge.io import write_json
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import ExampleBatches, in_batches, pad, steps_for
from lmforge.tasks.codec import WORD, Codec
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config
from lmforge.tasks.training import FinetuneConfig, run_trainer
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE


@dataclass
class TokenizedContext:
    ids: list[int]  # sub-tokens of the whole context
    char_start: list[int]  # per sub-token: first character of the word it belongs to
    char_end: list[int]  # per sub-token: one past the last character of its word


def tokenize_context(codec: Codec, context: str) -> TokenizedContext:
    out = TokenizedContext([], [], [])
    for i, m in enumerate(WORD.finditer(context)):
        pieces = codec.word_ids(m.group(), first=i == 0)
        out.ids += pieces
        out.char_start += [m.start()] * len(pieces)
        out.char_end += [m.end()] * len(pieces)
    return out


@dataclass
class Window:
    example: int  # index of the question
    ids: list[int]
    type_ids: list[int]
    offset: int  # position of the first context token in ids
    context_start: int  # index of that token in the TokenizedContext
    n_context: int
    start: int = 0  # training targets (0 = "answer not in this window")
    end: int = 0


def answer_tokens(ex: QAExample, ctx: TokenizedContext) -> tuple[int, int] | None:
    """First and last context token of the first gold answer that starts and ends on word boundaries.

    Some annotations cut a word (``"8"`` pointing into ``"18"``); the model can only output whole
    words, so such an answer is used only when no other annotator's answer aligns (then widened).
    """
    spans = []
    for text, start in zip(ex.answers, ex.answer_starts, strict=True):
        tokens = [i for i in range(len(ctx.ids)) if ctx.char_end[i] > start and ctx.char_start[i] < start + len(text)]
        if tokens:
            spans.append((tokens[0], tokens[-1]))
            if ctx.char_start[tokens[0]] == start and ctx.char_end[tokens[-1]] == start + len(text):
                return tokens[0], tokens[-1]
    return spans[0] if spans else None


def make_windows(codec: Codec, examples: Sequence[QAExample], max_len: int = 256, stride: int = 96,
                 max_question: int = 48, with_targets: bool = True) -> tuple[list[Window], list[TokenizedContext]]:
    """Windows of every question's context; targets from its first gold answer when ``with_targets``."""
    cache: dict[str, TokenizedContext] = {}
    windows, contexts = [], []
    for n, ex in enumerate(examples):
        if ex.context not in cache:
            cache[ex.context] = tokenize_context(codec, ex.context)
        ctx = cache[ex.context]
        contexts.append(ctx)
        prefix, suffix = codec.pair_prefix(codec.ids(ex.question)[:max_question]), codec.pair_suffix()
        room = max_len - len(prefix) - len(suffix)
        if room < 8:
            raise ConfigError(f"max_len={max_len} leaves no room for the context after the question")
        answer = answer_tokens(ex, ctx) if with_targets else None
        begin = 0
        while True:
            piece = ctx.ids[begin:begin + room]
            w = Window(n, prefix + piece + suffix, [0] * len(prefix) + [1] * (len(piece) + len(suffix)),
                       len(prefix), begin, len(piece))
            if answer and begin <= answer[0] and answer[1] < begin + len(piece):
                w.start, w.end = answer[0] - begin + w.offset, answer[1] - begin + w.offset
            windows.append(w)
            if begin + room >= len(ctx.ids):
                break
            begin += stride
    return windows, contexts


def collate_windows(pad_id: int):
    def collate(rows: list[Window]) -> tuple[torch.Tensor, ...]:
        ids, mask = pad([w.ids for w in rows], pad_id)
        type_ids, _ = pad([w.type_ids for w in rows], 0)
        return ids, mask, type_ids, torch.tensor([w.start for w in rows]), torch.tensor([w.end for w in rows])

    return collate


def span_logits(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor,
                type_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model(ids, mask, type_ids)  # (B, T, 2)
    return logits[..., 0], logits[..., 1]


def qa_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    ids, mask, type_ids, start, end = batch
    start_logits, end_logits = span_logits(model, ids, mask, type_ids)
    return (F.cross_entropy(start_logits, start) + F.cross_entropy(end_logits, end)) / 2


def best_span(start_logits: list[float], end_logits: list[float], n_best: int,
              max_answer_tokens: int) -> tuple[float, int, int] | None:
    """The best ``(score, start, end)`` over window positions (already restricted to the context)."""
    order_s = sorted(range(len(start_logits)), key=start_logits.__getitem__, reverse=True)[:n_best]
    order_e = sorted(range(len(end_logits)), key=end_logits.__getitem__, reverse=True)[:n_best]
    best = None
    for s in order_s:
        for e in order_e:
            if s <= e < s + max_answer_tokens:
                score = start_logits[s] + end_logits[e]
                if best is None or score > best[0]:
                    best = (score, s, e)
    return best


@dataclass(frozen=True)
class Answer:
    text: str  # the context's own characters, context[start:end]; "" when no span qualified
    start: int
    end: int
    score: float | None  # start logit + end logit of the chosen span; None when no span qualified


def predict_answers(model: TaskModel, codec: Codec, examples: Sequence[QAExample], max_len: int = 256,
                    stride: int = 96, n_best: int = 20, max_answer_tokens: int = 30,
                    batch_size: int = 32) -> list[str]:
    return [a.text for a in predict_spans(model, codec, examples, max_len, stride, n_best, max_answer_tokens,
                                          batch_size)]


@torch.no_grad()
def predict_spans(model: TaskModel, codec: Codec, examples: Sequence[QAExample], max_len: int = 256,
                  stride: int = 96, n_best: int = 20, max_answer_tokens: int = 30,
                  batch_size: int = 32) -> list[Answer]:
    """The best answer span of each question over all windows of its context (see the module docstring)."""
    model.eval()
    windows, contexts = make_windows(codec, examples, max_len, stride, with_targets=False)
    device = module_device(model)
    best: dict[int, tuple[float, int, int]] = {}  # question -> (score, first, last context token)
    for start in range(0, len(windows), batch_size):
        rows = windows[start:start + batch_size]
        ids, mask, type_ids, _, _ = next(in_batches(rows, batch_size, collate_windows(codec.pad_id)))
        s_logits, e_logits = span_logits(model, ids.to(device), mask.to(device), type_ids.to(device))
        for w, s, e in zip(rows, s_logits.tolist(), e_logits.tolist(), strict=True):
            lo, hi = w.offset, w.offset + w.n_context
            found = best_span(s[lo:hi], e[lo:hi], n_best, max_answer_tokens)
            if found and (w.example not in best or found[0] > best[w.example][0]):
                best[w.example] = (found[0], found[1] + w.context_start, found[2] + w.context_start)
    answers = []
    for n, ex in enumerate(examples):
        if n not in best:
            answers.append(Answer("", 0, 0, None))  # None, not -inf: JSON has no infinity
            continue
        score, first, last = best[n]
        start, end = contexts[n].char_start[first], contexts[n].char_end[last]
        answers.append(Answer(ex.context[start:end], start, end, score))
    return answers


@dataclass
class QAResult:
    exact_match: float
    f1: float
    n_train_windows: int
    n_eval: int
    train_seconds: float
    steps: int


def finetune_qa(backbone: nn.Module, tokenizer: Tokenizer, train: list[QAExample], test: list[QAExample],
                out_dir: str | Path, config: FinetuneConfig, max_len: int = 256, stride: int = 96,
                console: Console | None = None) -> QAResult:
    codec = Codec.for_tokenizer(tokenizer)
    if not codec.bert_style:
        raise ConfigError("extractive QA needs a bidirectional encoder with [CLS]/[SEP] (e.g. MiniLM / BERT)")
    seed_everything(config.seed)  # the head's initial weights are the run's first random draw
    model = TaskModel(TaskConfig(backbone_config(backbone), "qa", ["start", "end"], "none", config.dropout), backbone)
    windows, _ = make_windows(codec, train, max_len, stride)
    batches = ExampleBatches(windows, config.batch_size, collate_windows(codec.pad_id), seed=config.seed)
    result = run_trainer(model, batches, qa_loss, out_dir, config,
                         steps_for(len(windows), config.batch_size, config.epochs), console)
    tokenizer.save(Path(out_dir) / TOKENIZER_FILE)
    predicted = predict_answers(model, codec, test, max_len, stride)
    scores = squad_scores(predicted, [ex.answers for ex in test])
    write_json(Path(out_dir) / "task.json", {"task": "qa", "max_len": max_len, "stride": stride, **scores,
                                             "n_test": len(test)})
    return QAResult(scores["exact_match"], scores["f1"], len(windows), len(test), result.elapsed_s, result.steps)
