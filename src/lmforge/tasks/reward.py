"""A reward model: a causal LM (or encoder) with a one-number head, trained on preference pairs.

The pairs are the DPO ones (``{instruction, input, chosen, rejected}``), rendered as the same chats
(:func:`lmforge.tasks.preference.encode_preferences`); the head reads the hidden state of each chat's last
token (``<|im_end|>`` and its newline under ChatML), the only position that has seen the whole answer under
causal attention. Training minimises the Bradley-Terry loss (:mod:`lmforge.objectives.reward`) on the one
Trainer; the held-out pairwise accuracy (the fraction of held-out pairs whose chosen answer scores higher) is
measured before training, at every evaluation and at the end (``metrics.jsonl`` holds the evaluations
during training, ``task.json`` all of them). The result is a ``task`` model directory
(``"task": "reward"``) that :func:`lmforge.tasks.heads.load_task_model` opens, e.g. to score samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from torch import nn

from lmforge.devices import move_to
from lmforge.io import write_json
from lmforge.models.registry import save_model
from lmforge.objectives.reward import RewardBatch, RewardObjective
from lmforge.peft import count_parameters, merge_and_unload
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import ExampleBatches, pad
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config
from lmforge.tasks.preference import HeldOutEvaluation, PreferencePair, encode_preferences, head_tail_means
from lmforge.tasks.sft import AdapterConfig, copy_tokenizer_files, encode_splits
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.chat_template import ChatTemplate
from lmforge.train.trainer import TrainConfig, Trainer, TrainResult


def collate_reward_pairs(pairs: list[PreferencePair]) -> RewardBatch:
    """Chosen chats first, then rejected ones, right-padded together: ids and mask (2B, T)."""
    ids, mask = pad([p.chosen.ids for p in pairs] + [p.rejected.ids for p in pairs])
    return RewardBatch(ids, mask)


@dataclass
class RewardConfig:
    max_len: int = 256
    batch_size: int = 8
    center_coefficient: float | None = None  # trl's center_rewards_coefficient (None: off, as in trl)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=100, lr=1e-4, min_lr=1e-5,
                                                                   warmup_steps=10, eval_interval=25,
                                                                   checkpoint_interval=100, log_interval=5))
    adapters: AdapterConfig = field(default_factory=AdapterConfig)


@dataclass
class RewardResult:
    evals: list[dict[str, float]]  # the first is before training (step 0), the last at the end
    train_accuracy_first: float  # training-batch accuracy over the first / last 20% of steps
    train_accuracy_last: float
    trainable_params: int
    n_train: int
    n_eval: int
    train: TrainResult

    def summary(self) -> str:
        curve = ", ".join(f"step {e['step']}: {e['eval_accuracy']:.1%}" for e in self.evals)
        return (f"reward model, held-out pairwise accuracy on {self.n_eval} pairs: {curve} · training batches: "
                f"{self.train_accuracy_first:.1%} (first 20% of steps) -> {self.train_accuracy_last:.1%} (last 20%)"
                f" · trainable {self.trainable_params:,} parameters · {self.train.steps} steps in "
                f"{self.train.elapsed_s:.0f} s")


def reward_model(backbone: nn.Module) -> TaskModel:
    """``backbone`` (its LM head removed) + a linear score head over the last real token."""
    return TaskModel(TaskConfig(backbone_config(backbone), "reward", ["reward"], pooling="last", dropout=0.0),
                     backbone)


def finetune_reward(backbone: nn.Module, tokenizer: Tokenizer, template: ChatTemplate, train_records: Sequence[dict],
                    eval_records: Sequence[dict], out_dir: str | Path, config: RewardConfig,
                    source_dir: Path | None = None, resume: bool = False,
                    console: Console | None = None) -> RewardResult:
    """Train a reward model on preference pairs; held-out pairwise accuracy before, during and after."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    max_len = min(config.max_len, backbone.context_length)
    train, held_out, _ = encode_splits(encode_preferences, train_records, eval_records, tokenizer, template,
                                       max_len, console, "preference pairs")
    seed_everything(config.train.seed)  # the head and LoRA's A matrices are the run's first random draws
    model = reward_model(backbone)
    config.adapters.apply(model)
    model.head.requires_grad_(True)  # LoRA froze everything: the new head must learn in full
    trainable, total = count_parameters(model)
    console.print(f"{len(train)} training / {len(held_out)} held-out pairs · trainable {trainable:,} of {total:,} "
                  "parameters", soft_wrap=True)
    objective = RewardObjective(config.center_coefficient)
    evaluation = HeldOutEvaluation(held_out, config.batch_size, objective, out_dir / "metrics.jsonl", console,
                                   step=lambda: trainer.step, collate=collate_reward_pairs)
    batches = ExampleBatches(train, config.batch_size, collate_reward_pairs, seed=config.train.seed)
    trainer = Trainer(model, config.train, batches, out_dir, loss_fn=objective, console=console,
                      val_batches=evaluation, loss_label="Bradley-Terry loss, -log sigmoid(r_chosen - r_rejected)")
    if not resume:  # before training: a random head ranks about half the pairs right
        out_dir.mkdir(parents=True, exist_ok=True)
        model.eval()
        with torch.no_grad():
            for batch in evaluation():
                objective(model, move_to(batch, trainer.device))
        model.train()
    result = trainer.fit(resume=resume)
    first, last = head_tail_means([s.accuracy for s in objective.history] or [0.0])
    if config.adapters.method != "full":
        merge_and_unload(model)
    save_model(model, out_dir)
    copy_tokenizer_files(source_dir, out_dir)
    summary = RewardResult(evaluation.history, first, last, trainable, len(train), len(held_out), result)
    write_json(out_dir / "task.json", {
        "task": "reward", "max_len": max_len, "evals": evaluation.history,
        "accuracy_before": evaluation.history[0]["eval_accuracy"] if not resume else None,
        "accuracy_after": evaluation.history[-1]["eval_accuracy"], "train_accuracy_first": first,
        "train_accuracy_last": last, "n_train": len(train), "n_eval": len(held_out),
        "method": config.adapters.method, "trainable_params": trainable, "steps": result.steps,
        "elapsed_s": result.elapsed_s})
    return summary
