"""Supervised instruction fine-tuning (SFT): teach a language model to answer instructions.

Each Alpaca-style record ``{instruction, input, output}`` becomes a chat (user: instruction + input,
assistant: output), rendered with the model's chat template (ChatML by default, see
:mod:`lmforge.tokenizers.chat_template`). The loss is the usual next-token cross-entropy, but only
on the *assistant* tokens (the answer and its end-of-turn marker): prompt tokens get the label
``IGNORE`` (-100), which ``F.cross_entropy`` skips, so the model learns to answer, not to predict
the questions.

*Packing* puts several short examples into one row of up to ``max_len`` tokens instead of padding
each to the longest in the batch: fewer wasted (pad) positions per step. lmforge models take no
attention mask, so packed examples can attend to the earlier examples of their row; that is the
usual simple packing (as in Hugging Face's ``ConstantLengthDataset``), and the answers' loss
masking is unaffected. Examples are never split across rows.

Training runs on the one :class:`~lmforge.train.trainer.Trainer`, optionally with LoRA or QLoRA
adapters (:mod:`lmforge.peft`). Quality is measured as the perplexity of the reference answers of
held-out examples, before and after.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.devices import module_device
from lmforge.errors import ConfigError, DataError
from lmforge.io import read_json, write_json
from lmforge.models.registry import save_model
from lmforge.peft import LoraConfig, apply_lora, count_parameters, merge_and_unload, quantize_model
from lmforge.peft.hf_format import save_peft_adapter
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import ExampleBatches, in_batches
from lmforge.tasks.data import read_jsonl
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.chat_template import ChatTemplate, Message
from lmforge.train.trainer import TrainConfig, Trainer, TrainResult

IGNORE = -100  # label of positions without loss (prompt and padding); F.cross_entropy's default ignore_index
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


# ----------------------------------------------------------------------------- data
def read_records(path: str | Path, required: dict[str, type]) -> list[dict[str, Any]]:
    """A JSON array (``.json``) or JSON lines (``.jsonl``) of objects with the ``required`` string fields."""
    path = Path(path)
    if path.suffix == ".jsonl":
        return [obj for _, obj in read_jsonl(path, required)]
    data = read_json(path, "instruction data")
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty JSON array of objects, got {type(data).__name__}")
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise DataError(f"{path}: entry {i}: expected a JSON object, got {type(obj).__name__}")
        for name, kind in required.items():
            if not isinstance(obj.get(name), kind):
                got = "missing" if name not in obj else type(obj[name]).__name__
                raise DataError(f"{path}: entry {i}: field {name!r} should be a {kind.__name__}, got {got} "
                                f"(fields present: {sorted(obj)})")
        if not isinstance(obj.get("input", ""), str):
            raise DataError(f"{path}: entry {i}: field 'input' should be a string")
    return data


def read_instructions(path: str | Path) -> list[dict[str, Any]]:
    """Alpaca-style records: ``instruction`` and ``output`` (strings), optional ``input``."""
    return read_records(path, {"instruction": str, "output": str})


def user_prompt(record: dict[str, Any]) -> str:
    """The instruction, followed by its input (if any) after a blank line."""
    extra = record.get("input") or ""
    return record["instruction"] + (f"\n\n{extra}" if extra else "")


def instruction_chat(record: dict[str, Any], answer: str | None = None) -> list[Message]:
    return [{"role": "user", "content": user_prompt(record)},
            {"role": "assistant", "content": record["output"] if answer is None else answer}]


@dataclass
class SFTExample:
    """Token ids and labels of one chat: ``labels[i] == ids[i]`` on assistant tokens, ``IGNORE`` elsewhere."""

    ids: list[int]
    labels: list[int]


def encode_chat(tokenizer: Tokenizer, template: ChatTemplate, messages: Sequence[Message],
                max_len: int) -> SFTExample:
    """Render ``messages`` and tokenize prompt and answer pieces separately, so every token is known to be
    prompt or answer (the template's own special tokens are recognised). Truncated to ``max_len`` tokens."""
    text, spans = template.render_with_assistant_spans(messages)
    ids: list[int] = []
    labels: list[int] = []
    cursor = 0
    for start, end in [*spans, (len(text), len(text))]:
        prompt = tokenizer.encode(text[cursor:start], allowed_special="all")
        answer = tokenizer.encode(text[start:end], allowed_special="all")
        ids += prompt + answer
        labels += [IGNORE] * len(prompt) + answer
        cursor = end
    return SFTExample(ids[:max_len], labels[:max_len])


def encode_instructions(records: Sequence[dict[str, Any]], tokenizer: Tokenizer, template: ChatTemplate,
                        max_len: int) -> tuple[list[SFTExample], int]:
    """Encoded examples, and how many were dropped because truncation left no answer token to learn from."""
    examples = [encode_chat(tokenizer, template, instruction_chat(r), max_len) for r in records]
    kept = [e for e in examples if any(t != IGNORE for t in e.labels[1:])]
    return kept, len(examples) - len(kept)


def pack(examples: Sequence[SFTExample], max_len: int) -> list[SFTExample]:
    """Concatenate consecutive examples into rows of at most ``max_len`` tokens (greedy, in order; the
    batch source shuffles rows every epoch). An example longer than a row gets a row of its own."""
    rows: list[SFTExample] = []
    current = SFTExample([], [])
    for e in examples:
        if current.ids and len(current.ids) + len(e.ids) > max_len:
            rows.append(current)
            current = SFTExample([], [])
        current = SFTExample(current.ids + e.ids, current.labels + e.labels)
    if current.ids:
        rows.append(current)
    return rows


def collate(examples: list[SFTExample], pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``inputs`` (B, T) and shifted ``targets`` (B, T): targets[t] is the label of token t+1."""
    width = max(len(e.ids) for e in examples) - 1
    inputs = torch.full((len(examples), width), pad_id, dtype=torch.long)
    targets = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.ids) - 1
        inputs[i, :n] = torch.tensor(e.ids[:-1])
        targets[i, :n] = torch.tensor(e.labels[1:])
    return inputs, targets


@torch.no_grad()
def answer_perplexity(model: nn.Module, examples: Sequence[SFTExample], batch_size: int = 8) -> float:
    """exp(mean negative log-likelihood per answer token) of the reference answers, given their prompts."""
    was_training = model.training
    model.eval()
    nll, count = 0.0, 0
    device = module_device(model)
    for inputs, targets in in_batches(examples, batch_size, collate):
        inputs, targets = inputs.to(device), targets.to(device)
        logits = model(inputs)  # (B, T, V)
        nll += F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="sum").item()
        count += int((targets != IGNORE).sum())
    model.train(was_training)
    return math.exp(nll / count)


# ----------------------------------------------------------------------------- adapters
@dataclass
class AdapterConfig:
    """``method``: "full" (every weight trains), "lora" (frozen base + adapters) or "qlora" (4-bit NF4 base)."""

    method: str = "full"
    lora: LoraConfig = field(default_factory=LoraConfig)
    double_quant: bool = True

    def apply(self, model: nn.Module) -> None:
        if self.method not in ("full", "lora", "qlora"):
            raise ConfigError(f"unknown fine-tuning method {self.method!r}: expected full, lora or qlora")
        if self.method == "qlora":
            quantize_model(model, double_quant=self.double_quant)
        if self.method != "full":
            apply_lora(model, self.lora)


def save_finetuned(model: nn.Module, adapters: AdapterConfig, source_dir: Path | None, out_dir: Path,
                   console: Console) -> None:
    """Write the result as an ordinary model directory (adapters merged in), plus, for LoRA/QLoRA, the
    adapter in peft format under ``adapter/`` when the model has a Hugging Face twin for it."""
    if adapters.method != "full":
        try:
            save_peft_adapter(model, adapters.lora, out_dir / "adapter", str(source_dir) if source_dir else None)
            console.print(f"adapter (peft format): {out_dir / 'adapter'}")
        except ConfigError as e:
            console.print(f"[yellow]adapter not written in peft format: {e}")
        merge_and_unload(model)
    save_model(model, out_dir)
    copy_tokenizer_files(source_dir, out_dir)


def copy_tokenizer_files(source_dir: Path | None, out_dir: Path) -> None:
    """The tokenizer and chat template go with the model, so the output directory is self-contained."""
    for name in TOKENIZER_FILES if source_dir else ():
        if (source_dir / name).is_file():
            shutil.copyfile(source_dir / name, out_dir / name)


# ----------------------------------------------------------------------------- training
@dataclass
class SFTConfig:
    max_len: int = 256
    batch_size: int = 8
    packing: bool = True
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=100, lr=1e-4, min_lr=1e-5,
                                                                   warmup_steps=10, eval_interval=50,
                                                                   checkpoint_interval=100, log_interval=5))
    adapters: AdapterConfig = field(default_factory=AdapterConfig)


@dataclass
class SFTResult:
    ppl_before: float
    ppl_after: float
    trainable_params: int
    total_params: int
    n_train: int
    n_eval: int
    dropped: int
    train: TrainResult

    def summary(self) -> str:
        return (f"answer perplexity on {self.n_eval} held-out examples: {self.ppl_before:.2f} -> {self.ppl_after:.2f}"
                f" · trainable {self.trainable_params:,} of {self.total_params:,} parameters"
                f" · {self.train.steps} steps in {self.train.elapsed_s:.0f} s")


def encode_splits(encode: Callable[..., tuple[list, int]], train_records: Sequence[dict],
                  eval_records: Sequence[dict], tokenizer: Tokenizer, template: ChatTemplate, max_len: int,
                  console: Console, what: str) -> tuple[list, list, int]:
    """Encode the training and held-out records; say how many did not fit, refuse if nothing is left.

    Returns the encoded training and held-out examples and how many training records were dropped."""
    train, dropped = encode(train_records, tokenizer, template, max_len)
    held_out, dropped_eval = encode(eval_records, tokenizer, template, max_len)
    if not train or not held_out:
        raise DataError(f"no usable {what}: every prompt fills the {max_len}-token context (raise --max-len)")
    if dropped + dropped_eval:
        console.print(f"[yellow]{dropped + dropped_eval} {what} dropped: the prompt alone fills {max_len} tokens")
    return train, held_out, dropped


def finetune_sft(model: nn.Module, tokenizer: Tokenizer, template: ChatTemplate, train_records: Sequence[dict],
                 eval_records: Sequence[dict], out_dir: str | Path, config: SFTConfig,
                 source_dir: Path | None = None, resume: bool = False, console: Console | None = None) -> SFTResult:
    """SFT ``model`` on ``train_records``; answer perplexity on ``eval_records`` before and after."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    max_len = min(config.max_len, model.context_length)
    train, held_out, dropped = encode_splits(encode_instructions, train_records, eval_records, tokenizer, template,
                                             max_len, console, "examples")
    seed_everything(config.train.seed)  # LoRA's initial A matrices are the run's first random draw
    config.adapters.apply(model)
    trainable, total = count_parameters(model)
    ppl_before = answer_perplexity(model, held_out, config.batch_size)
    console.print(f"answer perplexity before: {ppl_before:.2f} · trainable {trainable:,} of {total:,} parameters")
    rows = pack(train, max_len) if config.packing else train
    batches = ExampleBatches(rows, config.batch_size, collate, seed=config.train.seed)
    trainer = Trainer(model, config.train, batches, out_dir,
                      val_batches=lambda: in_batches(held_out, config.batch_size, collate), console=console)
    result = trainer.fit(resume=resume)
    ppl_after = answer_perplexity(model, held_out, config.batch_size)
    save_finetuned(model, config.adapters, source_dir, out_dir, console)
    summary = SFTResult(ppl_before, ppl_after, trainable, total, len(train), len(held_out), dropped, result)
    write_json(out_dir / "sft_result.json", {
        "ppl_before": ppl_before, "ppl_after": ppl_after, "trainable_params": trainable, "total_params": total,
        "n_train": len(train), "n_eval": len(held_out), "method": config.adapters.method, "steps": result.steps,
        "elapsed_s": result.elapsed_s})
    return summary


# ----------------------------------------------------------------------------- command-line helpers
def load_chat_model(model_dir: str | Path,
                    device: torch.device | None = None) -> tuple[nn.Module, Tokenizer, ChatTemplate]:
    """A decoder-only lmforge model directory (on ``device``) with its ``tokenizer.json`` and chat template
    (ChatML if it ships none)."""
    from lmforge.infer.loading import load_model_dir
    from lmforge.models.base import Capability

    model, tokenizer = load_model_dir(model_dir, Capability.GENERATE, device=device)
    return model, tokenizer, ChatTemplate.from_model_dir(Path(model_dir))


def hold_out(records: Sequence[dict], n_eval: int, limit: int | None = None) -> tuple[list[dict], list[dict]]:
    """The last ``n_eval`` records for evaluation, the rest (at most ``limit`` of them) for training."""
    if not 0 < n_eval < len(records):
        raise ConfigError(f"--eval-examples must be between 1 and {len(records) - 1} (the data has {len(records)})")
    train = list(records[:-n_eval])
    return train[:limit] if limit else train, list(records[-n_eval:])
