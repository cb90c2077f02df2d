"""Abstractive summarization as an instruction fine-tune of a decoder-only chat model.

A summarization pair ``{document, summary}`` (plus an optional ``instruction``, e.g. *which* aspect to
summarize) is just an instruction record: user = instruction, a blank line, the document; assistant = the
summary. So training is exactly :mod:`lmforge.tasks.sft` (chat template, loss on the summary tokens only,
packing, LoRA/QLoRA, the one :class:`~lmforge.train.trainer.Trainer`), with one summarization-specific step:
a long document is *cut* (by tokens, keeping its beginning) so that prompt + summary fit ``max_len``. Plain
SFT truncation would cut the end of the example, i.e. the summary the model is supposed to learn.

Quality is ROUGE-1/2/L F-measure (:mod:`lmforge.evaluate.rouge`, equal to Google's ``rouge-score``; Porter
stemming on, as summarization papers report it) of greedy summaries written by the one
:class:`~lmforge.infer.engine.GenerationEngine` on held-out documents, before and after fine-tuning, next to
the classic *lead-N* baseline (the document's first N sentences), which is hard to beat on news and abstracts.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from torch import nn

from lmforge.errors import DataError
from lmforge.evaluate.rouge import corpus_rouge
from lmforge.infer.chat import TemplateFormat
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.io import atomic_write, write_json
from lmforge.progress import progress_bar
from lmforge.tasks.data import read_jsonl
from lmforge.tasks.sft import SFTConfig, SFTResult, encode_chat, finetune_sft, instruction_chat, read_records
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.chat_template import ChatTemplate

DEFAULT_INSTRUCTION = "Summarize the following text in one sentence."
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# a sentence ends at . ! or ? followed by white space and a capital, digit or opening quote/bracket, or at a newline
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])|\s*\n\s*")


# ----------------------------------------------------------------------------- data
def read_summaries(path: str | Path) -> list[dict[str, Any]]:
    """Records with non-empty ``document`` and ``summary`` strings and an optional ``instruction`` string,
    from a JSON array (``.json``) or JSON lines (``.jsonl``); mistakes name the file and the entry or line."""
    path = Path(path)
    required = {"document": str, "summary": str}
    if path.suffix == ".jsonl":
        numbered = [(f"line {n}", obj) for n, obj in read_jsonl(path, required)]
    else:
        numbered = [(f"entry {i}", obj) for i, obj in enumerate(read_records(path, required))]
    for where, record in numbered:
        if not isinstance(record.get("instruction", ""), str):
            raise DataError(f"{path}: {where}: field 'instruction' should be a string")
        for name in ("document", "summary"):
            if not record[name].strip():
                raise DataError(f"{path}: {where}: field {name!r} is empty")
    return [record for _, record in numbered]


def as_instruction(record: dict[str, Any], document: str | None = None) -> dict[str, str]:
    """The SFT record for a summarization pair (``document`` replaces the record's own, e.g. a cut one)."""
    return {"instruction": record.get("instruction") or DEFAULT_INSTRUCTION,
            "input": record["document"] if document is None else document, "output": record["summary"]}


def fit_to_context(records: Sequence[dict[str, Any]], tokenizer: Tokenizer, template: ChatTemplate,
                   max_len: int) -> list[dict[str, str]]:
    """SFT records whose documents are cut to their first tokens so that the whole chat (template, instruction,
    document, summary) has at most ``max_len`` tokens. The summary is never cut; a document keeps its
    beginning, where the most summary-worthy content usually is."""
    fitted = []
    for record in records:
        doc_ids = tokenizer.encode(record["document"])
        keep = len(doc_ids)
        sft_record = as_instruction(record)
        while True:
            length = len(encode_chat(tokenizer, template, instruction_chat(sft_record), sys.maxsize).ids)
            if length <= max_len or keep == 0:
                break
            # tokens do not always re-encode one to one at the cut, so shrink by the excess until it fits
            keep = max(0, keep - (length - max_len))
            sft_record = as_instruction(record, tokenizer.decode(doc_ids[:keep]))
        fitted.append(sft_record)
    return fitted


def lead(document: str, n: int = 1) -> str:
    """The first ``n`` sentences (split at ``.!?`` + space + capital/digit, or at newlines): the lead-N baseline."""
    sentences = [s for s in _SENTENCE_BREAK.split(document.strip()) if s.strip()]
    return " ".join(sentences[:n])


# ----------------------------------------------------------------------------- generation and scoring
def generate_summaries(model: nn.Module, tokenizer: Tokenizer, template: ChatTemplate,
                       records: Sequence[dict[str, str]], max_new_tokens: int = 64,
                       console: Console | None = None) -> list[str]:
    """Greedy summaries of SFT ``records`` (their ``output`` is ignored): the user turn rendered with the chat
    template and the assistant header, decoded until the end-of-turn marker or ``max_new_tokens``."""
    chat = TemplateFormat(tokenizer, template)
    config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0, stop_tokens=chat.stop_ids)
    was_training = model.training
    engine = GenerationEngine(model)
    summaries = []
    with progress_bar(console=console, transient=True) as progress:
        task = progress.add_task("summarizing", total=len(records))
        for record in records:
            text = tokenizer.decode(engine.generate(chat.render(instruction_chat(record)[:1]), config))
            for stop in chat.stop_strings:
                text = text.split(stop)[0]
            summaries.append(text.strip())
            progress.advance(task)
    model.train(was_training)
    return summaries


def rouge(references: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measure in percent (rouge-score tokenization, Porter stemming)."""
    return corpus_rouge(references, predictions, ROUGE_TYPES, use_stemmer=True)


# ----------------------------------------------------------------------------- fine-tuning
@dataclass
class SummarizeConfig:
    sft: SFTConfig = field(default_factory=lambda: SFTConfig(max_len=384))
    max_new_tokens: int = 64
    lead_sentences: int = 1


@dataclass
class SummarizeResult:
    rouge_lead: dict[str, float]
    rouge_before: dict[str, float]
    rouge_after: dict[str, float]
    lead_sentences: int
    n_eval: int
    sft: SFTResult

    def table(self) -> str:
        """Markdown table: the baseline, the model before and after fine-tuning."""
        rows = [(f"lead-{self.lead_sentences} baseline", self.rouge_lead), ("model before fine-tuning",
                self.rouge_before), ("model after fine-tuning", self.rouge_after)]
        lines = [f"ROUGE F1 % on {self.n_eval} held-out documents", "",
                 "| summaries | ROUGE-1 | ROUGE-2 | ROUGE-L |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {name} | " + " | ".join(f"{scores[k]:.2f}" for k in ROUGE_TYPES) + " |" for name, scores in rows]
        return "\n".join(lines)


def finetune_summarization(model: nn.Module, tokenizer: Tokenizer, template: ChatTemplate,
                           train_records: Sequence[dict[str, Any]], eval_records: Sequence[dict[str, Any]],
                           out_dir: str | Path, config: SummarizeConfig, source_dir: Path | None = None,
                           resume: bool = False, console: Console | None = None) -> SummarizeResult:
    """Fine-tune ``model`` to summarize; ROUGE on ``eval_records`` for lead-N and the model before and after.

    ``out_dir`` ends up as in :func:`~lmforge.tasks.sft.finetune_sft` (a chat-ready model directory), plus
    ``summarize_result.json`` and ``predictions.jsonl`` (reference, lead-N and both models' summaries)."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    max_len = min(config.sft.max_len, model.context_length)
    train = fit_to_context(train_records, tokenizer, template, max_len)
    held_out = fit_to_context(eval_records, tokenizer, template, max_len)
    references = [r["summary"] for r in eval_records]
    leads = [lead(r["document"], config.lead_sentences) for r in eval_records]
    rouge_lead = rouge(references, leads)
    before = generate_summaries(model, tokenizer, template, held_out, config.max_new_tokens, console)
    rouge_before = rouge(references, before)
    console.print(f"ROUGE before: {_fmt(rouge_before)} · lead-{config.lead_sentences}: {_fmt(rouge_lead)}")
    sft = finetune_sft(model, tokenizer, template, train, held_out, out_dir, config.sft, source_dir, resume, console)
    after = generate_summaries(model, tokenizer, template, held_out, config.max_new_tokens, console)
    result = SummarizeResult(rouge_lead, rouge_before, rouge(references, after), config.lead_sentences,
                             len(held_out), sft)
    with atomic_write(out_dir / "predictions.jsonl", "w") as f:
        for row in zip(references, leads, before, after, strict=True):
            f.write(json.dumps(dict(zip(("reference", "lead", "before", "after"), row, strict=True)),
                               ensure_ascii=False) + "\n")
    write_json(out_dir / "summarize_result.json", {
        "rouge_lead": rouge_lead, "rouge_before": rouge_before, "rouge_after": result.rouge_after,
        "lead_sentences": config.lead_sentences, "n_train": sft.n_train, "n_eval": len(held_out),
        "ppl_before": sft.ppl_before, "ppl_after": sft.ppl_after, "steps": sft.train.steps,
        "elapsed_s": sft.train.elapsed_s, "method": config.sft.adapters.method, "max_len": max_len,
        "max_new_tokens": config.max_new_tokens, "train": asdict(config.sft.train)})
    return result


def _fmt(scores: dict[str, float]) -> str:
    return " / ".join(f"{scores[k]:.2f}" for k in ROUGE_TYPES) + " (R-1/2/L)"
