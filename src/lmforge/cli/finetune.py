"""``lmforge finetune ...``: adapt a pretrained model to a task.

Argument parsing only; the work happens in :mod:`lmforge.tasks`, :mod:`lmforge.peft` and
:mod:`lmforge.objectives`. Instruction tuning (``sft``, ``dpo``, and ``summarize``: SFT on document/summary
pairs scored with ROUGE) and the task heads (classify, ner, qa) plus ``translate`` live side by side here, one
function per command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmforge.cli.options import DEVICE, GRAD_CHECKPOINT, OPTIMIZER, PRECISION_HELP, TENSORBOARD, max_minutes_help

app = typer.Typer(help="Fine-tune a model: instruction tuning (sft), preference tuning (dpo, reward), online RL (grpo, "
                  "ppo) and task heads.",
                  no_args_is_help=True)


# --- instruction tuning (sft, dpo) and summarization -------------------------------------------------------------

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
ItSteps = Annotated[int | None, typer.Option(help="Optimizer steps (default 100).")]
ItBatch = Annotated[int, typer.Option(help="Rows (SFT) or preference pairs (DPO) per step.")]
ItMinutes = Annotated[float | None, typer.Option(help=max_minutes_help("steps"))]
ItResume = Annotated[bool, typer.Option(help="Continue the run in --out from its latest checkpoint.")]
ItSeed = Annotated[int, typer.Option(help="Random seed.")]
ItPrecision = Annotated[str, typer.Option(help=PRECISION_HELP)]
DEFAULT_TARGETS = ["qkv", "proj", "up", "down", "gate_up"]


def _adapters(method: str, rank: int, alpha: float, dropout: float, targets: list[str] | None):
    from lmforge.peft import LoraConfig
    from lmforge.tasks.sft import AdapterConfig

    return AdapterConfig(method, LoraConfig(rank, alpha, dropout, targets or DEFAULT_TARGETS))


def _train_config(steps: int | None, lr: float, max_minutes: float | None, seed: int, precision: str,
                  eval_every: int | None = None, tensorboard: bool = False, grad_checkpoint: bool | None = None,
                  optimizer: str | None = None):
    """The fine-tuning TrainConfig: evaluation every `eval_every` steps, else four times a run."""
    from lmforge.train.trainer import TrainConfig, lr_schedule_for

    total = steps if steps is not None else 100
    return TrainConfig(max_steps=total, lr=lr, min_lr=lr / 10, warmup_steps=max(1, total // 10),
                       eval_interval=eval_every or max(1, total // 4), checkpoint_interval=max(1, total // 2),
                       log_interval=max(1, min(10, total // 10)), max_minutes=max_minutes,
                       schedule=lr_schedule_for(max_minutes, steps), precision=precision,  # type: ignore[arg-type]
                       seed=seed, tensorboard=tensorboard, grad_checkpoint=bool(grad_checkpoint),
                       optimizer=optimizer or "adamw")


@app.command()
def sft(
    data: Annotated[Path, typer.Option("--data", "-d", help="Alpaca-style .json array or .jsonl: instruction, "
                                       "input (optional), output.")],
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    dropout: ItDropout = 0.05, target: ItTargets = None, eval_examples: ItEval = 50, limit: ItLimit = None,
    max_len: ItMaxLen = 256, steps: ItSteps = None, batch_size: ItBatch = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate (LoRA likes ~1e-3, full fine-tuning ~1e-4).")] = 1e-3,
    packing: Annotated[bool, typer.Option(help="Pack several short examples per row.")] = True,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0, precision: ItPrecision = "auto",
    tensorboard: TENSORBOARD = False, device: DEVICE = "auto", grad_checkpoint: GRAD_CHECKPOINT = None,
    optimizer: OPTIMIZER = None,
) -> None:
    """Instruction-tune a chat model; loss only on answer tokens; prints answer perplexity before/after."""
    from lmforge.devices import resolve_device
    from lmforge.tasks.sft import SFTConfig, finetune_sft, hold_out, load_chat_model, read_instructions

    run_device = resolve_device(device)
    train, held_out = hold_out(read_instructions(data), eval_examples, limit)
    net, tokenizer, template = load_chat_model(model, run_device)
    train_config = _train_config(steps, lr, max_minutes, seed, precision, tensorboard=tensorboard,
                                 grad_checkpoint=grad_checkpoint, optimizer=optimizer and optimizer.value)
    config = SFTConfig(max_len, batch_size, packing, train_config, _adapters(method, rank, alpha, dropout, target))
    result = finetune_sft(net, tokenizer, template, train, held_out, out, config, source_dir=model, resume=resume)
    typer.echo(result.summary())
    typer.echo(f"model: {out} (try `lmforge chat {out}`)")


@app.command()
def dpo(
    data: Annotated[Path, typer.Option("--data", "-d", help="Preference .json array or .jsonl: instruction, input "
                                       "(optional), chosen, rejected.")],
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    dropout: ItDropout = 0.0, target: ItTargets = None, eval_examples: ItEval = 50, limit: ItLimit = None,
    max_len: ItMaxLen = 256, steps: ItSteps = None, batch_size: ItBatch = 4,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 5e-4,
    beta: Annotated[float, typer.Option(help="DPO beta: how strongly the policy is tied to the reference.")] = 0.1,
    eval_every: Annotated[int | None, typer.Option(min=1, help="Held-out accuracy and reward margin every N steps "
                                                          "(default: steps / 4) and at the end.")] = None,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0, precision: ItPrecision = "auto",
    tensorboard: TENSORBOARD = False, device: DEVICE = "auto", grad_checkpoint: GRAD_CHECKPOINT = None,
    optimizer: OPTIMIZER = None,
) -> None:
    """Direct preference optimization (start from an SFT model); logs held-out preference accuracy during training."""
    from lmforge.devices import resolve_device
    from lmforge.tasks.preference import DPOConfig, finetune_dpo, read_preferences
    from lmforge.tasks.sft import hold_out, load_chat_model

    run_device = resolve_device(device)
    train, held_out = hold_out(read_preferences(data), eval_examples, limit)
    net, tokenizer, template = load_chat_model(model, run_device)
    train_config = _train_config(steps, lr, max_minutes, seed, precision, eval_every, tensorboard, grad_checkpoint,
                                 optimizer and optimizer.value)
    config = DPOConfig(beta, 0.0, max_len, batch_size, train_config, _adapters(method, rank, alpha, dropout, target))
    result = finetune_dpo(net, tokenizer, template, train, held_out, out, config, source_dir=model, resume=resume)
    typer.echo(result.summary())


@app.command()
def reward(
    data: Annotated[Path, typer.Option("--data", "-d", help="Preference .json array or .jsonl: instruction, input "
                                       "(optional), chosen, rejected.")],
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    dropout: ItDropout = 0.0, target: ItTargets = None, eval_examples: ItEval = 100, limit: ItLimit = None,
    max_len: ItMaxLen = 256, steps: ItSteps = None, batch_size: ItBatch = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate (the new score head and the adapters).")] = 5e-4,
    center: Annotated[float | None, typer.Option(help="trl's center_rewards_coefficient: c * mean((r_w + r_l)^2) "
                                                 "keeps rewards near 0 (default: off).")] = None,
    eval_every: Annotated[int | None, typer.Option(min=1, help="Held-out pairwise accuracy every N steps (default: "
                                                          "steps / 4), before training and at the end.")] = None,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0, precision: ItPrecision = "auto",
    tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """Reward model: the chat model + a scalar head on the last token, Bradley-Terry loss on preference pairs;
    prints held-out pairwise accuracy (chosen scored above rejected) before, during and after."""
    from lmforge.devices import resolve_device
    from lmforge.tasks.preference import read_preferences
    from lmforge.tasks.reward import RewardConfig, finetune_reward
    from lmforge.tasks.sft import hold_out, load_chat_model

    run_device = resolve_device(device)
    train, held_out = hold_out(read_preferences(data), eval_examples, limit)
    net, tokenizer, template = load_chat_model(model, run_device)
    train_config = _train_config(steps, lr, max_minutes, seed, precision, eval_every, tensorboard)
    config = RewardConfig(max_len, batch_size, center, train_config, _adapters(method, rank, alpha, dropout, target))
    result = finetune_reward(net, tokenizer, template, train, held_out, out, config, source_dir=model, resume=resume)
    typer.echo(result.summary())
    typer.echo(f"reward model: {out}")


# --- online RL on a verifiable task (grpo, ppo) ---------------------------------------------------------------------

RlSteps = Annotated[int, typer.Option(help="Optimizer steps.")]
RlPrompts = Annotated[int, typer.Option(help="GRPO: problems per batch of samples (PPO: x --group-size problems, one "
                                        "reply each, so both sample as many replies).")]
RlGroup = Annotated[int, typer.Option(help="GRPO: replies sampled per problem; the group is the baseline (>= 2).")]
RlIterations = Annotated[int, typer.Option(min=1, help="Optimizer steps per batch of samples (trl's num_iterations); "
                                           "above 1 the clipped ratio matters.")]
RlTokens = Annotated[int, typer.Option(min=1, help="Longest reply, in tokens.")]
RlTemperature = Annotated[float, typer.Option(help="Sampling temperature (the log-probs use it too, as trl's).")]
RlBeta = Annotated[float, typer.Option(help="KL coefficient to the reference (the model before training).")]
RlOperand = Annotated[int, typer.Option(help="Problems are a + b or a - b with 0 <= a, b <= this.")]
RlEval = Annotated[int, typer.Option(help="Held-out problems (never trained on), answered greedily at each "
                                     "evaluation.")]
RlEvery = Annotated[int | None, typer.Option(min=1, help="Evaluate every N steps (default: steps / 4).")]
RlLr = Annotated[float, typer.Option(help="Peak learning rate.")]


def _rl(algorithm: str, model: Path, out: Path, method: str, rank: int, alpha: float, target: list[str] | None,
        steps: int, prompts_per_step: int, group_size: int, iterations: int, max_new_tokens: int, temperature: float,
        beta: float, max_operand: int, eval_problems: int, eval_every: int | None, lr: float,
        max_minutes: float | None, resume: bool, seed: int, precision: str, tensorboard: bool = False,
        device: str = "auto", **extra) -> None:
    from lmforge.devices import resolve_device
    from lmforge.tasks.rl import RLConfig, finetune_rl
    from lmforge.tasks.sft import load_chat_model

    net, tokenizer, template = load_chat_model(model, resolve_device(device))
    train_config = _train_config(steps, lr, max_minutes, seed, precision, eval_every, tensorboard)
    config = RLConfig(algorithm, prompts_per_step, group_size, iterations, max_new_tokens, temperature, beta,  # type: ignore[arg-type]
                      max_operand=max_operand, n_eval=eval_problems, train=train_config,
                      adapters=_adapters(method, rank, alpha, 0.0, target), **extra)
    result = finetune_rl(net, tokenizer, template, out, config, source_dir=model, resume=resume)
    typer.echo(result.summary())
    typer.echo(f"model: {out} (curves: {out / 'curves.png'})")


@app.command()
def grpo(
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    target: ItTargets = None, steps: RlSteps = 40, prompts_per_step: RlPrompts = 2, group_size: RlGroup = 4,
    iterations: RlIterations = 2, max_new_tokens: RlTokens = 12, temperature: RlTemperature = 1.0,
    beta: RlBeta = 0.04, epsilon: Annotated[float, typer.Option(help="Clip range of the probability ratio.")] = 0.2,
    loss_type: Annotated[str, typer.Option(help="grpo (mean per reply, then over replies) | bnpo (mean over all "
                                           "reply tokens) | dr_grpo (sum / replies x max tokens).")] = "bnpo",
    max_operand: RlOperand = 20, eval_problems: RlEval = 24, eval_every: RlEvery = None, lr: RlLr = 2e-4,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0, precision: ItPrecision = "auto",
    tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """GRPO on arithmetic problems with exact answers: groups of sampled replies, scored by a program, normalized
    within the group; prints held-out reward, exact match and sample replies at every evaluation."""
    from lmforge.errors import ConfigError

    if loss_type not in ("grpo", "bnpo", "dr_grpo"):
        raise ConfigError(f"--loss-type must be grpo, bnpo or dr_grpo, got {loss_type!r}")
    _rl("grpo", model, out, method, rank, alpha, target, steps, prompts_per_step, group_size, iterations,
        max_new_tokens, temperature, beta, max_operand, eval_problems, eval_every, lr, max_minutes, resume, seed,
        precision, tensorboard, device, eps=epsilon, loss_type=loss_type)


@app.command()
def ppo(
    model: ItModel, out: ItOut, method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0,
    target: ItTargets = None, steps: RlSteps = 40, prompts_per_step: RlPrompts = 2, group_size: RlGroup = 4,
    iterations: RlIterations = 2, max_new_tokens: RlTokens = 12, temperature: RlTemperature = 1.0,
    beta: RlBeta = 0.04, epsilon: Annotated[float, typer.Option(help="Clip range of the ratio and the value.")] = 0.2,
    vf_coef: Annotated[float, typer.Option(help="Weight of the value head's loss.")] = 0.1,
    lam: Annotated[float, typer.Option(help="GAE lambda (gamma is 1: one reply is one short episode).")] = 0.95,
    max_operand: RlOperand = 20, eval_problems: RlEval = 24, eval_every: RlEvery = None, lr: RlLr = 2e-4,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0, precision: ItPrecision = "auto",
    tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """PPO on the same problems: one reply per problem, advantages by GAE from a value head on the policy, KL penalty
    in the per-token reward; prints held-out reward, exact match and sample replies at every evaluation."""
    _rl("ppo", model, out, method, rank, alpha, target, steps, prompts_per_step, group_size, iterations,
        max_new_tokens, temperature, beta, max_operand, eval_problems, eval_every, lr, max_minutes, resume, seed,
        precision, tensorboard, device, eps=epsilon, vf_coef=vf_coef, lam=lam)


@app.command()
def summarize(
    data: Annotated[Path, typer.Option("--data", "-d", help=".json array or .jsonl of records: document, summary, "
                                       "instruction (optional; default: summarize in one sentence).")],
    model: ItModel, out: ItOut,
    eval_data: Annotated[Path | None, typer.Option(help="Held-out records to score (first --eval-examples of them); "
                                                   "default: the last --eval-examples records of --data.")] = None,
    method: ItMethod = "lora", rank: ItRank = 8, alpha: ItAlpha = 16.0, dropout: ItDropout = 0.05,
    target: ItTargets = None,
    eval_examples: Annotated[int, typer.Option(help="Records scored with ROUGE before/after.")] = 50,
    limit: ItLimit = None,
    max_len: Annotated[int, typer.Option(help="Tokens per example; long documents are cut, never the summary.")] = 384,
    max_new_tokens: Annotated[int, typer.Option(help="Longest generated summary, in tokens.")] = 64,
    lead: Annotated[int, typer.Option(help="Sentences in the lead-N baseline.")] = 1,
    steps: ItSteps = None, batch_size: ItBatch = 8,
    lr: Annotated[float, typer.Option(help="Peak learning rate (LoRA likes ~1e-3, full fine-tuning ~1e-4).")] = 1e-3,
    packing: Annotated[bool, typer.Option(help="Pack several short examples per row.")] = True,
    max_minutes: ItMinutes = None, resume: ItResume = False, seed: ItSeed = 0, precision: ItPrecision = "auto",
    tensorboard: TENSORBOARD = False, device: DEVICE = "auto", grad_checkpoint: GRAD_CHECKPOINT = None,
    optimizer: OPTIMIZER = None,
) -> None:
    """Summarization as an instruction fine-tune; prints ROUGE-1/2/L before/after next to a lead-N baseline."""
    from lmforge.devices import resolve_device
    from lmforge.tasks.sft import SFTConfig, hold_out, load_chat_model
    from lmforge.tasks.summarize import SummarizeConfig, finetune_summarization, read_summaries

    run_device = resolve_device(device)
    records = read_summaries(data)
    if eval_data is None:
        train, held_out = hold_out(records, eval_examples, limit)
    else:
        train, held_out = records[:limit] if limit else records, read_summaries(eval_data)[:eval_examples]
    net, tokenizer, template = load_chat_model(model, run_device)
    # ROUGE and answer perplexity are measured before and after; the trainer's validation loss only at the end
    train_config = _train_config(steps, lr, max_minutes, seed, precision, tensorboard=tensorboard,
                                 grad_checkpoint=grad_checkpoint, optimizer=optimizer and optimizer.value)
    train_config.eval_interval = train_config.max_steps
    sft = SFTConfig(max_len, batch_size, packing, train_config, _adapters(method, rank, alpha, dropout, target))
    result = finetune_summarization(net, tokenizer, template, train, held_out, out,
                                    SummarizeConfig(sft, max_new_tokens, lead), source_dir=model, resume=resume)
    typer.echo(result.table())
    typer.echo(result.sft.summary())
    typer.echo(f"model: {out} (summaries side by side: {out / 'predictions.jsonl'})")


# --- task heads (classify, ner, qa) and translation --------------------------------------------------------------

_MODEL_HELP = "Backbone: an lmforge model dir (with tokenizer.json) or an HF BERT dir. Default: the bundled MiniLM."
Model = Annotated[Path | None, typer.Option("--model", "-m", help=_MODEL_HELP)]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output model dir (config, weights, tokenizer, task.json).")]
Epochs = Annotated[float, typer.Option(help="Passes over the training data.")]
Lr = Annotated[float, typer.Option(help="Peak learning rate (warm-up, then cosine decay).")]
BatchSize = Annotated[int, typer.Option(help="Examples per optimizer step.")]
MaxMinutes = Annotated[float | None, typer.Option(help=max_minutes_help())]
MaxSteps = Annotated[int | None, typer.Option(help="Optimizer steps (overrides --epochs).")]
Seed = Annotated[int, typer.Option(help="Seed for the split, shuffling and the head's initialisation.")]


def _config(epochs: float, lr: float, batch_size: int, max_minutes: float | None, max_steps: int | None, seed: int,
            tensorboard: bool = False, device: str = "auto"):
    from lmforge.devices import resolve_device
    from lmforge.tasks.training import FinetuneConfig

    return FinetuneConfig(epochs=epochs, lr=lr, batch_size=batch_size, max_minutes=max_minutes,
                          max_steps=max_steps, seed=seed, tensorboard=tensorboard, device=resolve_device(device))


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
    max_steps: MaxSteps = None, seed: Seed = 0, tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """Sequence classification (spam, sentiment): backbone + linear head, prints accuracy and per-class F1."""
    from lmforge.errors import ConfigError
    from lmforge.recipes.finetune import run_classify

    if pooling not in (None, "last", "cls", "mean"):
        raise ConfigError(f"--pooling must be last, cls or mean, got {pooling!r}")
    config = _config(epochs, lr, batch_size, max_minutes, max_steps, seed, tensorboard, device)
    result = run_classify(train, out, config, model, test, text_col, label_col, header, test_fraction,
                          pooling, max_len)  # type: ignore[arg-type]
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
    max_steps: MaxSteps = None, seed: Seed = 0, tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """Token classification (NER): BIO tags aligned to sub-words; prints entity P/R/F1 per type."""
    from lmforge.recipes.finetune import run_ner

    config = _config(epochs, lr, batch_size, max_minutes, max_steps, seed, tensorboard, device)
    result = run_ner(train, test, out, config, model, max_len)
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
    max_steps: MaxSteps = None, seed: Seed = 0, tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """Extractive QA: start/end heads over doc-stride windows; prints SQuAD v1.1 EM / F1."""
    from lmforge.recipes.finetune import run_qa

    config = _config(epochs, lr, batch_size, max_minutes, max_steps, seed, tensorboard, device)
    result = run_qa(train, out, config, model, test, eval_articles, max_eval, max_len, stride)
    typer.echo(f"exact match {result.exact_match:.2f}  F1 {result.f1:.2f}  ({result.n_eval} questions)")
    typer.echo(f"model saved to {out} ({result.steps} steps, {result.train_seconds:.0f} s)")


@app.command()
def translate(
    train: Annotated[Path, typer.Argument(help="Pair file: one 'source<TAB>target' per line (e.g. eng-fra).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run dir: checkpoints, metrics, vocab.json, task.json.")],
    limit: Annotated[int | None, typer.Option(help="Use only the first N pairs.")] = None,
    min_freq: Annotated[int, typer.Option(help="Words seen fewer times in training become <unk>.")] = 2,
    split_seed: Annotated[int, typer.Option(help="Seed of the 80/10/10 split by source sentence.")] = 0,
    d_model: Annotated[int, typer.Option(help="Model width.")] = 256,
    n_layers: Annotated[int, typer.Option(help="Encoder (and decoder) layers.")] = 3,
    n_heads: Annotated[int, typer.Option(help="Attention heads.")] = 8,
    d_head: Annotated[int, typer.Option(help="Width of one head.")] = 32,
    d_mlp: Annotated[int, typer.Option(help="Feed-forward width.")] = 1024,
    dropout: Annotated[float, typer.Option(help="Dropout probability.")] = 0.1,
    epochs: Epochs = 30.0, lr: Lr = 1e-3, batch_size: BatchSize = 64, max_minutes: MaxMinutes = None,
    max_steps: MaxSteps = None, seed: Seed = 0, tensorboard: TENSORBOARD = False, device: DEVICE = "auto",
) -> None:
    """Translation: a Transformer encoder-decoder (T5 blocks) trained from scratch; prints test sacreBLEU."""
    from lmforge.data.translation import DataConfig
    from lmforge.models.t5 import T5Config
    from lmforge.tasks.translate import finetune_translation

    data = DataConfig(str(train), limit, min_freq=min_freq, batch_size=batch_size, split_seed=split_seed)
    model_config = T5Config(d_model=d_model, n_layers=n_layers, n_heads=n_heads, d_head=d_head, d_mlp=d_mlp,
                            dropout=dropout, context_length=64)
    model_config.validate()
    config = _config(epochs, lr, batch_size, max_minutes, max_steps, seed, tensorboard, device)
    result = finetune_translation(data, model_config, out, config)
    for source, translation in result.samples:
        typer.echo(f"{source}  ->  {translation}")
    typer.echo(f"test BLEU {result.bleu:.2f} cased, {result.bleu_lowercased:.2f} lowercased "
               f"({result.n_test_sources} source sentences, greedy)")
    typer.echo(f"{result.parameters:,} parameters, {result.steps} steps, {result.train_seconds:.0f} s; run dir: {out}")
