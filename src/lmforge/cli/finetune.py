"""``lmforge finetune ...``: adapt a pretrained model to a task.

Argument parsing only; the work happens in :mod:`lmforge.tasks`, :mod:`lmforge.peft` and
:mod:`lmforge.objectives`. Instruction tuning (``sft``, ``dpo``) and the task heads (classify, ner, qa,
summarize, translate) live side by side here, one function per command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Fine-tune a model: instruction tuning (sft, dpo) and task heads.", no_args_is_help=True)


# --- instruction tuning (sft, dpo) -------------------------------------------------------------------------------

ItModel = Annotated[Path, typer.Option("--model", "-m", help="lmforge model dir with tokenizer.json (and a chat "
                                       "template; ChatML if none).")]
ItOut = Annotated[Path, typer.Option("--out", "-o", help="Run dir: metrics, checkpoints, merged model, adapter/.")]
ItMethod = Annotated[str, typer.Option(help="full | lora | qlora (LoRA on a 4-bit NF4 base).")]
ItRank = Annotated[int, typer.Option(help="LoRA rank r.")]
ItAlpha = Annotated[float, typer.Option(help="LoRA alpha (the update is scaled by alpha / r).")]
ItDropout = Annotated[float, typer.Option(help="Dropout on the LoRA input.")]
ItTargets = Annotated[list[str] | None, typer.Option("--target", help="LoRA layer name pattern (repeatable); "
                                                     "default: qkv, proj, up, down.")]
ItEval = Annotated[int, typer.Option(help="Records held out from the end of the data for before/after.")]
ItLimit = Annotated[int | None, typer.Option(help="Use only the first N training records.")]
ItMaxLen = Annotated[int, typer.Option(help="Tokens per example (longer chats are cut).")]
ItSteps = Annotated[int, typer.Option(help="Optimizer steps.")]
ItBatch = Annotated[int, typer.Option(help="Rows (SFT) or preference pairs (DPO) per step.")]
ItMinutes = Annotated[float | None, typer.Option(help="Time budget; the LR schedule ends with it.")]
ItResume = Annotated[bool, typer.Option(help="Continue the run in --out from its latest checkpoint.")]
ItSeed = Annotated[int, typer.Option(help="Random seed.")]
DEFAULT_TARGETS = ["qkv", "proj", "up", "down", "gate_up"]


def _adapters(method: str, rank: int, alpha: float, dropout: float, targets: list[str] | None):
    from lmforge.peft import LoraConfig
    from lmforge.tasks.sft import AdapterConfig

    return AdapterConfig(method, LoraConfig(rank, alpha, dropout, targets or DEFAULT_TARGETS))


def _train_config(steps: int, lr: float, max_minutes: float | None, seed: int):
    from lmforge.train.trainer import TrainConfig

    return TrainConfig(max_steps=steps, lr=lr, min_lr=lr / 10, warmup_steps=max(1, steps // 10),
                       eval_interval=max(1, steps // 4), checkpoint_interval=max(1, steps // 2),
                       log_interval=max(1, min(10, steps // 10)), max_minutes=max_minutes, seed=seed)


@app.command()
def sft(
    data: Annotated[Path, typer.Option("--data", "-d", help="Alpaca-style .json array or .jsonl: instruction, "
                                       "input (optional), output.")],
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    dropout: ItDropout = 0.05, target: ItTargets = None, eval_examples: ItEval = 50, limit: ItLimit = None,
    max_len: ItMaxLen = 256, steps: ItSteps = 100, batch_size: ItBatch = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate (LoRA likes ~1e-3, full fine-tuning ~1e-4).")] = 1e-3,
    packing: Annotated[bool, typer.Option(help="Pack several short examples per row.")] = True,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0,
) -> None:
    """Instruction-tune a chat model; loss only on answer tokens; prints answer perplexity before/after."""
    from lmforge.tasks.sft import SFTConfig, finetune_sft, hold_out, load_chat_model, read_instructions

    train, held_out = hold_out(read_instructions(data), eval_examples, limit)
    net, tokenizer, template = load_chat_model(model)
    config = SFTConfig(max_len, batch_size, packing, _train_config(steps, lr, max_minutes, seed),
                       _adapters(method, rank, alpha, dropout, target))
    result = finetune_sft(net, tokenizer, template, train, held_out, out, config, source_dir=model, resume=resume)
    typer.echo(result.summary())
    typer.echo(f"model: {out} (try `lmforge chat {out}`)")


@app.command()
def dpo(
    data: Annotated[Path, typer.Option("--data", "-d", help="Preference .json array or .jsonl: instruction, input "
                                       "(optional), chosen, rejected.")],
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    dropout: ItDropout = 0.0, target: ItTargets = None, eval_examples: ItEval = 50, limit: ItLimit = None,
    max_len: ItMaxLen = 256, steps: ItSteps = 100, batch_size: ItBatch = 4,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-4,
    beta: Annotated[float, typer.Option(help="DPO beta: how strongly the policy is tied to the reference.")] = 0.1,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0,
) -> None:
    """Direct preference optimization (start from an SFT model); prints held-out preference accuracy."""
    from lmforge.tasks.preference import DPOConfig, finetune_dpo, read_preferences
    from lmforge.tasks.sft import hold_out, load_chat_model

    train, held_out = hold_out(read_preferences(data), eval_examples, limit)
    net, tokenizer, template = load_chat_model(model)
    config = DPOConfig(beta, 0.0, max_len, batch_size, _train_config(steps, lr, max_minutes, seed),
                       _adapters(method, rank, alpha, dropout, target))
    result = finetune_dpo(net, tokenizer, template, train, held_out, out, config, source_dir=model, resume=resume)
    typer.echo(result.summary())


# --- task heads (classify, ner, qa) ------------------------------------------------------------------------------

_MODEL_HELP = "Backbone: an lmforge model dir (with tokenizer.json) or an HF BERT dir. Default: the bundled MiniLM."
Model = Annotated[Path | None, typer.Option("--model", "-m", help=_MODEL_HELP)]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output model dir (config, weights, tokenizer, task.json).")]
Epochs = Annotated[float, typer.Option(help="Passes over the training data.")]
Lr = Annotated[float, typer.Option(help="Peak learning rate (warm-up, then cosine decay).")]
BatchSize = Annotated[int, typer.Option(help="Examples per optimizer step.")]
MaxMinutes = Annotated[float | None, typer.Option(help="Time budget; training stops (and the schedule ends) then.")]
MaxSteps = Annotated[int | None, typer.Option(help="Optimizer steps (overrides --epochs).")]
Seed = Annotated[int, typer.Option(help="Seed for the split, shuffling and the head's initialisation.")]


def _config(epochs: float, lr: float, batch_size: int, max_minutes: float | None, max_steps: int | None, seed: int):
    from lmforge.tasks.training import FinetuneConfig

    return FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, max_minutes=max_minutes,
                          max_steps=max_steps, seed=seed)


@app.command()
def classify(
    train: Annotated[Path, typer.Argument(help="Labelled texts: .csv/.tsv (header row) or .jsonl.")],
    out: Out,
    model: Model = None,
    test: Annotated[Path | None, typer.Option(help="Test file; default: hold out --test-fraction of TRAIN.")] = None,
    text_col: Annotated[str, typer.Option(help="Text column/field (0-based index with --no-header).")] = "text",
    label_col: Annotated[str, typer.Option(help="Label column/field (0-based index with --no-header).")] = "label",
    header: Annotated[bool, typer.Option(help="CSV/TSV: the first row names the columns.")] = True,
    test_fraction: Annotated[float, typer.Option(help="Held-out share when no --test is given.")] = 0.2,
    pooling: Annotated[str | None, typer.Option(help="last (GPT), cls or mean (BERT); default by model.")] = None,
    max_len: Annotated[int, typer.Option(help="Sub-tokens per text (longer texts are cut).")] = 128,
    epochs: Epochs = 2.0, lr: Lr = 5e-5, batch_size: BatchSize = 16, max_minutes: MaxMinutes = None,
    max_steps: MaxSteps = None, seed: Seed = 0,
) -> None:
    """Sequence classification (spam, sentiment): backbone + linear head, prints accuracy and per-class F1."""
    from lmforge.errors import ConfigError
    from lmforge.tasks.run import run_classify

    if pooling not in (None, "last", "cls", "mean"):
        raise ConfigError(f"--pooling must be last, cls or mean, got {pooling!r}")
    result = run_classify(train, out, _config(epochs, lr, batch_size, max_minutes, max_steps, seed), model, test,
                          text_col, label_col, header, test_fraction, pooling, max_len)  # type: ignore[arg-type]
    typer.echo(result.report.table())
    typer.echo(f"model saved to {out} ({result.steps} steps, {result.train_seconds:.0f} s)")


@app.command()
def ner(
    train: Annotated[Path, typer.Argument(help="CoNLL file: token<TAB>BIO-tag lines, blank line between sentences.")],
    test: Annotated[Path, typer.Argument(help="CoNLL file to score on (entity-level, seqeval rules).")],
    out: Out,
    model: Model = None,
    max_len: Annotated[int, typer.Option(help="Sub-tokens per sentence (later words are tagged O).")] = 128,
    epochs: Epochs = 3.0, lr: Lr = 5e-5, batch_size: BatchSize = 16, max_minutes: MaxMinutes = None,
    max_steps: MaxSteps = None, seed: Seed = 0,
) -> None:
    """Token classification (NER): BIO tags aligned to sub-words; prints entity P/R/F1 per type."""
    from lmforge.tasks.run import run_ner

    result = run_ner(train, test, out, _config(epochs, lr, batch_size, max_minutes, max_steps, seed), model, max_len)
    typer.echo(result.scores.table())
    typer.echo(f"model saved to {out} ({result.steps} steps, {result.train_seconds:.0f} s)")


@app.command()
def qa(
    train: Annotated[Path, typer.Argument(help="SQuAD v1.1 json.")],
    out: Out,
    model: Model = None,
    test: Annotated[Path | None, typer.Option(help="SQuAD json to score; default: hold out --eval-articles.")] = None,
    eval_articles: Annotated[int, typer.Option(help="Articles of TRAIN held out when no --test.")] = 4,
    max_eval: Annotated[int | None, typer.Option(help="Score only the first N held-out questions.")] = None,
    max_len: Annotated[int, typer.Option(help="Sub-tokens per window (question + context).")] = 256,
    stride: Annotated[int, typer.Option(help="Sub-tokens between the starts of a context's windows.")] = 96,
    epochs: Epochs = 1.0, lr: Lr = 1e-4, batch_size: BatchSize = 16, max_minutes: MaxMinutes = None,
    max_steps: MaxSteps = None, seed: Seed = 0,
) -> None:
    """Extractive QA: start/end heads over doc-stride windows; prints SQuAD v1.1 EM / F1."""
    from lmforge.tasks.run import run_qa

    result = run_qa(train, out, _config(epochs, lr, batch_size, max_minutes, max_steps, seed), model, test,
                    eval_articles, max_eval, max_len, stride)
    typer.echo(f"exact match {result.exact_match:.2f}  F1 {result.f1:.2f}  ({result.n_eval} questions)")
    typer.echo(f"model saved to {out} ({result.steps} steps, {result.train_seconds:.0f} s)")
