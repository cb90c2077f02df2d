"""Online RL on a verifiable task: GRPO or PPO on the one Trainer, the policy sampling its own training data.

Each optimizer step's batch comes from :class:`Rollouts`, a batch source that *samples*: it draws fresh
problems (:mod:`lmforge.tasks.arithmetic`), lets the current policy answer each, scores the replies with the
verifiable reward and turns them into a :class:`~lmforge.objectives.grpo.RolloutBatch`. The replies of one batch
are decoded together by the batched engine (:class:`~lmforge.infer.batch.BatchEngine`), each with its own seed:

- GRPO: ``group_size`` replies per problem, advantages normalized within each group (no value model);
- PPO: one reply per problem (as many replies per step as GRPO), advantages by GAE from a value head that
  rides on the policy during training (so the Trainer checkpoints it with the weights) and is dropped at the end.

The log-probabilities of the sampling policy and of the frozen reference (a copy of the model before
training; with LoRA that is the base model) are computed once per batch. A batch serves ``iterations``
optimizer steps before new replies are sampled (trl's ``num_iterations``), which is when PPO's clip matters.
The source's position (problems drawn, batches sampled, the current batch itself) is part of every
checkpoint and sampling seeds derive from it, so a resumed run repeats the uninterrupted one.

Every evaluation answers the held-out problems greedily, logs the mean reward, exact match, format rate and
reply length, prints a few replies, and hands the Trainer those replies so that its ``val_loss`` is the
policy's KL to the reference on them (how far the policy has moved). ``curves.png`` plots all of it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from rich.console import Console
from torch import nn

from lmforge.devices import module_device
from lmforge.errors import ConfigError
from lmforge.infer.batch import BatchEngine
from lmforge.infer.chat import TemplateFormat
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.io import pyplot, save_png, write_json
from lmforge.models.base import CausalLM
from lmforge.objectives.grpo import GRPOObjective, LossType, RewardScaling, RolloutBatch, group_advantages, token_logps
from lmforge.objectives.ppo import PPOObjective, ValueHead, gae, logps_and_values, token_rewards, whiten
from lmforge.peft import count_parameters
from lmforge.seeding import seed_everything
from lmforge.tasks.arithmetic import Problem, ProblemStream, Score, held_out_problems, score_reply
from lmforge.tasks.batching import pad
from lmforge.tasks.sft import AdapterConfig, save_finetuned
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.chat_template import ChatTemplate
from lmforge.train.trainer import TrainConfig, Trainer, TrainResult

Algorithm = Literal["grpo", "ppo"]


@dataclass
class RLConfig:
    algorithm: Algorithm = "grpo"
    prompts_per_step: int = 2  # GRPO: problems per batch, each answered group_size times; PPO: x group_size problems
    group_size: int = 4
    iterations: int = 2  # optimizer steps per sampled batch
    max_new_tokens: int = 12
    temperature: float = 1.0
    beta: float = 0.04  # GRPO: KL coefficient; PPO: kl_coef of the per-token reward
    eps: float = 0.2
    loss_type: LossType = "bnpo"
    scale_rewards: RewardScaling = "group"
    gamma: float = 1.0
    lam: float = 0.95
    vf_coef: float = 0.1
    max_operand: int = 20
    n_eval: int = 24
    samples_shown: int = 3
    train: TrainConfig = field(default_factory=lambda: TrainConfig(max_steps=40, lr=2e-4, min_lr=2e-5, warmup_steps=2,
                                                                   eval_interval=10, checkpoint_interval=10,
                                                                   log_interval=1))
    adapters: AdapterConfig = field(default_factory=AdapterConfig)


@dataclass
class Reply:
    problem: Problem
    prompt_ids: list[int]
    completion_ids: list[int]  # the reply's tokens, then the end-of-turn token when it stopped by itself
    text: str
    score: Score


class Sampler:
    """Problems -> the policy's replies, scored: prompts rendered with the model's chat template, one engine."""

    def __init__(self, tokenizer: Tokenizer, template: ChatTemplate, max_new_tokens: int) -> None:
        self.tokenizer, self.max_new_tokens = tokenizer, max_new_tokens
        self.format = TemplateFormat(tokenizer, template)
        end = template.eos_token
        end_id = tokenizer.token_to_id(end) if end else None
        self.end_id = end_id if end_id is not None else min(self.format.stop_ids, default=None)

    def replies(self, model: nn.Module, problems: list[Problem], temperature: float,
                seeds: list[int | None]) -> list[Reply]:
        """One reply per problem (repeat a problem for a group), each with its own seed, decoded together by the
        batched engine (a Transformer decoder; other models one at a time by the single-sequence engine)."""
        prompts = [self.format.render([{"role": "user", "content": p.prompt}]) for p in problems]
        configs = [SamplingConfig(max_new_tokens=self.max_new_tokens, temperature=temperature, seed=seed,
                                  stop_tokens=self.format.stop_ids) for seed in seeds]
        was_training = model.training
        if isinstance(model, CausalLM):  # slots as long as the longest prompt + reply, not the whole context
            engine = BatchEngine(model, len(prompts), max(map(len, prompts)) + self.max_new_tokens)
            completions = engine.generate_many(prompts, configs)
        else:
            completions = [GenerationEngine(model).generate(p, c) for p, c in zip(prompts, configs, strict=True)]
        model.train(was_training)  # the engines put the model in eval mode
        return [self._reply(p, ids, c) for p, ids, c in zip(problems, prompts, completions, strict=True)]

    def _reply(self, problem: Problem, prompt: list[int], completion: list[int]) -> Reply:
        text = self.tokenizer.decode(completion)
        if len(completion) < self.max_new_tokens and self.end_id is not None:
            completion = completion + [self.end_id]  # it stopped: the policy also chose to end its turn
        return Reply(problem, prompt, completion, text, score_reply(text, problem.answer))


def collate_replies(replies: list[Reply], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """ids (B, T) prompt + reply, right-padded, and mask (B, T-1): 1 where ids[:, 1:] is a reply token; on
    ``device``, where the policy's weights are."""
    ids, _ = pad([r.prompt_ids + r.completion_ids for r in replies])
    mask = torch.zeros(ids.shape[0], ids.shape[1] - 1)
    for i, r in enumerate(replies):
        mask[i, len(r.prompt_ids) - 1:len(r.prompt_ids) - 1 + len(r.completion_ids)] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def score_batch(replies: list[Reply], policy: nn.Module, reference: nn.Module, config: RLConfig) -> RolloutBatch:
    """The sampled replies as a :class:`RolloutBatch`: old and reference log-probs, advantages (and PPO's values)."""
    device = module_device(policy)  # the rollout's tensors live where the weights do
    ids, mask = collate_replies(replies, device)
    rewards = torch.tensor([r.score.reward for r in replies], device=device)
    was_training = policy.training
    policy.eval()
    ref_logps = token_logps(reference, ids, config.temperature) * mask
    if config.algorithm == "grpo":
        old_logps = token_logps(policy, ids, config.temperature) * mask
        batch = RolloutBatch(ids, mask, old_logps, ref_logps, group_advantages(rewards, config.group_size,
                                                                              config.scale_rewards), rewards)
    else:
        old_logps, values = logps_and_values(policy, ids, config.temperature)
        old_logps, values = old_logps * mask, values * mask
        advantages, returns = gae(token_rewards(rewards, old_logps, ref_logps, mask, config.beta), values, mask,
                                  config.gamma, config.lam)
        batch = RolloutBatch(ids, mask, old_logps, ref_logps, whiten(advantages, mask), rewards, returns, values)
    policy.train(was_training)
    return batch


class Rollouts:
    """The Trainer's batch source for online RL (see the module docstring)."""

    def __init__(self, policy: nn.Module, reference: nn.Module, sampler: Sampler, problems: ProblemStream,
                 config: RLConfig) -> None:
        self.policy, self.reference, self.sampler, self.problems = policy, reference, sampler, problems
        self.config = config
        self.index, self.uses = 0, 0  # batches sampled so far; steps the current one has served
        self.current: RolloutBatch | None = None
        self.history: list[dict[str, float]] = []  # per sampled batch: mean reward, exact match, reply length

    def next_batch(self) -> RolloutBatch:
        if self.current is None or self.uses == self.config.iterations:
            self.current, self.uses = self._sample(), 0
        self.uses += 1
        return self.current

    def _sample(self) -> RolloutBatch:
        c = self.config
        per_problem = c.group_size if c.algorithm == "grpo" else 1
        problems = [self.problems.next() for _ in range(c.prompts_per_step * c.group_size // per_problem)]
        base = (c.train.seed * 1_000_003 + self.index) * 1000  # each reply its own seed, fixed by the position
        group = [p for p in problems for _ in range(per_problem)]  # a problem's replies stay consecutive
        replies = self.sampler.replies(self.policy, group, c.temperature, [base + k for k in range(len(group))])
        self.history.append({"step": self.index * c.iterations, **reply_stats(replies)})
        self.index += 1
        return score_batch(replies, self.policy, self.reference, c)

    def state_dict(self) -> dict[str, Any]:
        return {"index": self.index, "uses": self.uses, "problems": self.problems.index,
                "current": self.current._asdict() if self.current is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.index, self.uses, self.problems.index = state["index"], state["uses"], state["problems"]
        self.current = RolloutBatch(**state["current"]) if state["current"] is not None else None


def evaluate_replies(model: nn.Module, sampler: Sampler, problems: list[Problem],
                     samples_shown: int = 3) -> tuple[list[Reply], dict[str, Any]]:
    """Greedy replies to ``problems`` and their ``eval_*`` statistics, with the first few replies as samples."""
    replies = sampler.replies(model, problems, 0.0, [None] * len(problems))
    stats: dict[str, Any] = {f"eval_{k}": v for k, v in reply_stats(replies).items()}
    stats["samples"] = [{"prompt": r.problem.prompt, "reply": r.text, "reward": r.score.reward}
                        for r in replies[:samples_shown]]
    return replies, stats


def sampled_preference_pairs(model: nn.Module, sampler: Sampler, problems: ProblemStream, n_problems: int,
                             group_size: int, temperature: float, seed: int) -> list[dict[str, str]]:
    """DPO data from the model's own samples: per problem, ``group_size`` replies; when their rewards differ, the
    best is ``chosen`` and the worst ``rejected`` (records for :func:`lmforge.tasks.preference.finetune_dpo`)."""
    records = []
    for i in range(n_problems):
        problem = problems.next()
        replies = sampler.replies(model, [problem] * group_size, temperature,
                                  [(seed * 1_000_003 + i) * 1000 + j for j in range(group_size)])
        best = max(replies, key=lambda r: r.score.reward)
        worst = min(replies, key=lambda r: r.score.reward)
        if best.score.reward > worst.score.reward:
            records.append({"instruction": problem.prompt, "chosen": best.text, "rejected": worst.text})
    return records


def reply_stats(replies: list[Reply]) -> dict[str, float]:
    n = len(replies)
    return {"reward": sum(r.score.reward for r in replies) / n, "exact_match": sum(r.score.exact for r in replies) / n,
            "correct": sum(r.score.correct for r in replies) / n, "format": sum(r.score.bare for r in replies) / n,
            "length": sum(len(r.completion_ids) for r in replies) / n}


class HeldOutReplies:
    """The Trainer's ``val_batches``: greedy replies to the held-out problems, scored, logged and shown."""

    def __init__(self, policy: nn.Module, reference: nn.Module, problems: list[Problem], sampler: Sampler,
                 config: RLConfig, metrics_path: Path, console: Console, step: Callable[[], int]) -> None:
        self.policy, self.reference, self.problems, self.sampler = policy, reference, problems, sampler
        self.config = config
        self.metrics_path, self.console, self.step = metrics_path, console, step
        self.history: list[dict[str, Any]] = []

    def __call__(self) -> Iterator[RolloutBatch]:
        replies, stats = evaluate_replies(self.policy, self.sampler, self.problems, self.config.samples_shown)
        record = {"step": self.step(), **stats}
        self.history.append(record)
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.console.print(f"step {record['step']}: held-out reward {record['eval_reward']:.3f} · exact match "
                           f"{record['eval_exact_match']:.1%} · correct {record['eval_correct']:.1%} · bare number "
                           f"{record['eval_format']:.1%} · {record['eval_length']:.1f} tokens", soft_wrap=True)
        for r in replies[:self.config.samples_shown]:
            self.console.print(f"  {r.problem.prompt!r} -> {r.text!r} (reward {r.score.reward:g})", soft_wrap=True)
        device = module_device(self.policy)
        ids, mask = collate_replies(replies, device)
        with torch.no_grad():
            ref_logps = token_logps(self.reference, ids, self.config.temperature)
        empty = torch.zeros(len(replies), device=device)
        yield RolloutBatch(ids, mask, ref_logps, ref_logps, empty, empty)


@dataclass
class RLResult:
    evals: list[dict[str, Any]]  # held-out reward, exact match, ... per evaluation; the first before training
    rollouts: list[dict[str, float]]  # training replies' statistics per sampled batch
    kl: list[tuple[int, float]]  # (step, held-out KL to the reference) per evaluation during training
    trainable_params: int
    train: TrainResult

    def summary(self) -> str:
        first, last = self.evals[0], self.evals[-1]
        return (f"held-out reward {first['eval_reward']:.3f} -> {last['eval_reward']:.3f} · exact match "
                f"{first['eval_exact_match']:.1%} -> {last['eval_exact_match']:.1%} · bare-number replies "
                f"{first['eval_format']:.1%} -> {last['eval_format']:.1%} · reply length {first['eval_length']:.1f} -> "
                f"{last['eval_length']:.1f} tokens (steps {first['step']} -> {last['step']}) · "
                f"{self.train.steps} steps in {self.train.elapsed_s:.0f} s")


def plot_curves(result: RLResult, path: Path, title: str) -> None:
    """Held-out reward / exact match / format rate, reply length and KL per evaluation; training reward per batch."""
    plt = pyplot()

    steps = [e["step"] for e in result.evals]
    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.8))
    for key, label in (("eval_reward", "held-out reward"), ("eval_exact_match", "exact match"),
                       ("eval_correct", "correct (last number)"), ("eval_format", "bare-number reply")):
        ax1.plot(steps, [e[key] for e in result.evals], "o-", label=label)
    ax1.plot([r["step"] for r in result.rollouts], [r["reward"] for r in result.rollouts], alpha=0.4,
             label="training reward (sampled)")
    ax2.plot(steps, [e["eval_length"] for e in result.evals], "o-")
    ax2.set_ylabel("held-out reply length (tokens)")
    kl = ([(0, 0.0)] if steps[0] == 0 else []) + result.kl  # at step 0 the policy is the reference
    if kl:
        ax3.plot(*zip(*kl, strict=True), "o-")
    ax3.set_ylabel("KL(policy || reference), held-out")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path)


def make_objective(config: RLConfig) -> GRPOObjective | PPOObjective:
    if config.algorithm == "grpo":
        return GRPOObjective(config.beta, config.eps, config.eps, config.loss_type, config.max_new_tokens + 1,
                             config.temperature)
    return PPOObjective(config.eps, config.eps, config.vf_coef, config.temperature)


def finetune_rl(model: nn.Module, tokenizer: Tokenizer, template: ChatTemplate, out_dir: str | Path, config: RLConfig,
                source_dir: Path | None = None, resume: bool = False, console: Console | None = None) -> RLResult:
    """GRPO or PPO on the arithmetic task; held-out reward and exact match before, at every evaluation and after."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    if config.algorithm == "grpo" and config.group_size < 2:
        raise ConfigError("GRPO needs --group-size of at least 2: the group is the baseline")
    seed_everything(config.train.seed)  # LoRA's initial A matrices are the run's first random draw
    config.adapters.apply(model)
    reference = copy.deepcopy(model).eval().requires_grad_(False)  # the model before training
    if config.algorithm == "ppo":
        # trains in full, checkpointed with the policy; on the policy's device from the start
        model.value_head = ValueHead(model.config.d_model).to(module_device(model))
    trainable, total = count_parameters(model)
    held_out = held_out_problems(config.n_eval, config.max_operand)
    sampler = Sampler(tokenizer, template, config.max_new_tokens)
    problems = ProblemStream(config.max_operand, held_out, config.train.seed)
    rollouts = Rollouts(model, reference, sampler, problems, config)
    evaluation = HeldOutReplies(model, reference, held_out, sampler, config, out_dir / "metrics.jsonl", console,
                                step=lambda: trainer.step)  # read during training, once `trainer` exists
    console.print(f"{config.algorithm.upper()} · {config.prompts_per_step * config.group_size} replies per batch, "
                  f"{config.iterations} steps each · {len(held_out)} held-out problems · trainable {trainable:,} of "
                  f"{total:,} parameters", soft_wrap=True)
    trainer = Trainer(model, config.train, rollouts, out_dir, val_batches=evaluation, loss_fn=make_objective(config),
                      console=console, loss_label=f"{config.algorithm.upper()} loss")
    if not resume:  # before training (the Trainer's log starts at step 1; rl_result.json keeps this one)
        out_dir.mkdir(parents=True, exist_ok=True)
        for _ in evaluation():
            pass
    result = trainer.fit(resume=resume)
    records = [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]
    kl = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
    if config.algorithm == "ppo":
        del model.value_head
    save_finetuned(model, config.adapters, source_dir, out_dir, console)
    summary = RLResult(evaluation.history, rollouts.history, kl, trainable, result)
    write_json(out_dir / "rl_result.json", {"algorithm": config.algorithm, "evals": summary.evals,
                                            "rollouts": summary.rollouts, "kl": summary.kl,
                                            "config": {k: v for k, v in asdict(config).items() if k != "train"},
                                            "steps": result.steps, "elapsed_s": result.elapsed_s,
                                            "trainable_params": trainable})
    plot_curves(summary, out_dir / "curves.png", f"{config.algorithm.upper()} on held-out arithmetic")
    return summary
