"""Preference data for DPO: ``{instruction, input, chosen, rejected}`` records -> :class:`DPOBatch` batches.

Both answers are rendered as the assistant turn of the same chat (see :mod:`lmforge.tasks.sft`), so
they share the prompt and only the answer tokens are scored. The frozen reference model's answer
log-probabilities are computed once, before training (the model at that point *is* the reference:
LoRA adapters start at zero), so training needs no second model in memory and no second forward.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from lmforge.devices import module_device
from lmforge.io import write_json
from lmforge.objectives.dpo import DPOBatch, DPOObjective, PairwiseRewards, answer_logps
from lmforge.peft import count_parameters
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import ExampleBatches, in_batches
from lmforge.tasks.sft import (
    IGNORE,
    AdapterConfig,
    SFTExample,
    encode_chat,
    encode_splits,
    instruction_chat,
    read_records,
    save_finetuned,
)
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.chat_template import ChatTemplate
from lmforge.train.trainer import TrainConfig, Trainer, TrainResult


def read_preferences(path: str | Path) -> list[dict[str, Any]]:
    """Records with ``instruction``, ``chosen`` and ``rejected`` (strings) and optional ``input``."""
    return read_records(path, {"instruction": str, "chosen": str, "rejected": str})


@dataclass
class PreferencePair:
    chosen: SFTExample
    rejected: SFTExample
    ref_chosen: float = 0.0  # reference answer log-probabilities, filled by :func:`score_reference`
    ref_rejected: float = 0.0


def encode_preferences(records: Sequence[dict[str, Any]], tokenizer: Tokenizer, template: ChatTemplate,
                       max_len: int) -> tuple[list[PreferencePair], int]:
    """Encoded pairs, and how many were dropped (truncation left an answer without tokens)."""
    pairs = [PreferencePair(encode_chat(tokenizer, template, instruction_chat(r, r["chosen"]), max_len),
                            encode_chat(tokenizer, template, instruction_chat(r, r["rejected"]), max_len))
             for r in records]
    kept = [p for p in pairs if all(any(t != IGNORE for t in e.labels[1:]) for e in (p.chosen, p.rejected))]
    return kept, len(pairs) - len(kept)


def collate_pairs(pairs: list[PreferencePair]) -> DPOBatch:
    """Chosen rows first, then rejected rows, right-padded together: ids (2B, T), answer mask (2B, T-1)."""
    rows = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    width = max(len(e.ids) for e in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width - 1))
    for i, e in enumerate(rows):
        ids[i, :len(e.ids)] = torch.tensor(e.ids)
        mask[i, :len(e.ids) - 1] = torch.tensor([label != IGNORE for label in e.labels[1:]], dtype=torch.float)
    ref = torch.tensor([p.ref_chosen for p in pairs] + [p.ref_rejected for p in pairs])
    return DPOBatch(ids, mask, ref)


@torch.no_grad()
def score_reference(model: nn.Module, pairs: list[PreferencePair], batch_size: int = 8) -> None:
    """Fill each pair's reference log-probabilities with ``model``'s (call before training)."""
    was_training = model.training
    model.eval()
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        batch = collate_pairs(chunk)
        device = module_device(model)
        chosen, rejected = answer_logps(model, batch.ids.to(device), batch.mask.to(device)).chunk(2)
        for p, c, r in zip(chunk, chosen.tolist(), rejected.tolist(), strict=True):
            p.ref_chosen, p.ref_rejected = c, r
    model.train(was_training)


class HeldOutEvaluation:
    """The Trainer's ``val_batches`` for DPO or a reward model: the held-out pairs, in order, at every evaluation.

    The Trainer's ``evaluate`` runs the objective over these batches in eval mode (that is the held-out
    loss it logs as ``val_loss``); the objective keeps the rewards, and once the last batch has been
    consumed this generator reports that evaluation's preference accuracy and mean rewards on the console
    and as one more line of ``metrics.jsonl``: the same forward pass, the same loop.
    """

    def __init__(self, pairs: list[PreferencePair], batch_size: int, objective: PairwiseRewards, metrics_path: Path,
                 console: Console, step: Callable[[], int],
                 collate: Callable[[list[PreferencePair]], Any] = collate_pairs) -> None:
        self.pairs, self.batch_size, self.objective, self.collate = pairs, batch_size, objective, collate
        self.metrics_path, self.console, self.step = metrics_path, console, step
        self.history: list[dict[str, float]] = []  # one record per evaluation (this session)

    def __call__(self) -> Iterator[Any]:
        self.objective.eval_rewards.clear()
        yield from in_batches(self.pairs, self.batch_size, self.collate)
        stats = self.objective.held_out_stats()
        record = {"step": self.step(), "eval_accuracy": stats.accuracy, "eval_reward_margin": stats.margin,
                  "eval_reward_chosen": stats.chosen, "eval_reward_rejected": stats.rejected}
        self.history.append(record)
        with self.metrics_path.open("a", encoding="utf-8") as f:  # next to the Trainer's val_loss line
            f.write(json.dumps(record) + "\n")
        self.console.print(f"step {record['step']}: held-out preference accuracy {stats.accuracy:.1%} · reward "
                           f"margin {stats.margin:+.3f} (chosen {stats.chosen:+.3f}, rejected {stats.rejected:+.3f})",
                           soft_wrap=True)


@dataclass
class DPOConfig:
    beta: float = 0.1
    label_smoothing: float = 0.0
    max_len: int = 256
    batch_size: int = 4
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=100, lr=5e-5, min_lr=5e-6,
                                                                   warmup_steps=10, eval_interval=50,
                                                                   checkpoint_interval=100, log_interval=5))
    adapters: AdapterConfig = field(default_factory=AdapterConfig)


@dataclass
class DPOResult:
    evals: list[dict[str, float]]  # held-out step, eval_accuracy, eval_reward_margin / _chosen / _rejected
    train_accuracy_first: float  # mean training-batch preference accuracy over the first / last 20% of steps
    train_accuracy_last: float
    trainable_params: int
    n_train: int
    n_eval: int
    train: TrainResult

    @property
    def final(self) -> dict[str, float]:
        return self.evals[-1]

    def summary(self) -> str:
        curve = ", ".join(f"step {e['step']}: {e['eval_accuracy']:.1%} ({e['eval_reward_margin']:+.3f})"
                          for e in self.evals)
        return (f"held-out preference accuracy (mean reward margin) on {self.n_eval} pairs: step 0: policy = "
                f"reference, every margin 0; {curve} · training batches: {self.train_accuracy_first:.1%} (first 20% "
                f"of steps) -> {self.train_accuracy_last:.1%} (last 20%) · {self.train.steps} steps in "
                f"{self.train.elapsed_s:.0f} s")


def head_tail_means(values: list[float]) -> tuple[float, float]:
    k = max(1, len(values) // 5)
    return sum(values[:k]) / k, sum(values[-k:]) / k


def finetune_dpo(model: nn.Module, tokenizer: Tokenizer, template: ChatTemplate, train_records: Sequence[dict],
                 eval_records: Sequence[dict], out_dir: str | Path, config: DPOConfig,
                 source_dir: Path | None = None, resume: bool = False, console: Console | None = None) -> DPOResult:
    """DPO-train ``model`` (usually an SFT model) against a frozen copy of itself; held-out preference accuracy
    and reward margins at every evaluation (``config.train.eval_interval``) and at the end."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    max_len = min(config.max_len, model.context_length)
    train, held_out, _ = encode_splits(encode_preferences, train_records, eval_records, tokenizer, template,
                                       max_len, console, "preference pairs")
    seed_everything(config.train.seed)  # LoRA's initial A matrices are the run's first random draw
    config.adapters.apply(model)
    trainable, total = count_parameters(model)
    console.print(f"{len(train)} training / {len(held_out)} held-out pairs · trainable {trainable:,} of {total:,} "
                  "parameters · scoring the answers under the reference model", soft_wrap=True)
    score_reference(model, train + held_out, config.batch_size)
    objective = DPOObjective(config.beta, config.label_smoothing)
    batches = ExampleBatches(train, config.batch_size, collate_pairs, seed=config.train.seed)
    evaluation = HeldOutEvaluation(held_out, config.batch_size, objective, out_dir / "metrics.jsonl", console,
                                   step=lambda: trainer.step)  # read during training, once `trainer` exists
    trainer = Trainer(model, config.train, batches, out_dir, loss_fn=objective, console=console,
                      val_batches=evaluation, loss_label="DPO loss, -log sigmoid(beta * margin)")
    result = trainer.fit(resume=resume)
    first, last = head_tail_means([s.accuracy for s in objective.history] or [0.0])
    save_finetuned(model, config.adapters, source_dir, out_dir, console)
    summary = DPOResult(evaluation.history, first, last, trainable, len(train), len(held_out), result)
    write_json(out_dir / "dpo_result.json", {
        "evals": evaluation.history, "accuracy_after": summary.final["eval_accuracy"],
        "reward_margin_after": summary.final["eval_reward_margin"], "train_accuracy_first": first,
        "train_accuracy_last": last, "n_train": len(train), "n_eval": len(held_out), "beta": config.beta,
        "method": config.adapters.method, "trainable_params": trainable, "steps": result.steps,
        "elapsed_s": result.elapsed_s})
    return summary
