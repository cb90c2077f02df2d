"""Reward model on the one Trainer: a tiny chat model learns the ch07 politeness pairs, the held-out pairwise
accuracy is logged before, during and after; resuming reproduces an uninterrupted run; ``lmforge finetune reward``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from rl_helpers import logged_losses, rewind_to_checkpoint
from typer.testing import CliRunner

from lmforge.cli.finetune import app
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.tasks.heads import load_task_model
from lmforge.tasks.preference import read_preferences
from lmforge.tasks.reward import RewardConfig, finetune_reward
from lmforge.tasks.sft import AdapterConfig, hold_out, load_chat_model
from lmforge.tokenizers import train_tokenizer
from lmforge.tokenizers.chat_template import IM_END, IM_START
from lmforge.train.trainer import TrainConfig

PREFERENCES = Path(__file__).resolve().parents[1] / "data" / "instruction_data" / "preference_120.json"
QUIET = Console(stderr=True, quiet=True)


@pytest.fixture(scope="module")
def pref_model_dir(tmp_path_factory) -> Path:
    """A random tiny GPT with a 512-token BPE (ChatML markers as special tokens) trained on the pairs' text."""
    texts = [r["instruction"] + " " + r["chosen"] + " " + r["rejected"] for r in read_preferences(PREFERENCES)]
    tokenizer = train_tokenizer("bpe", texts, vocab_size=512, special_tokens=("<|endoftext|>", IM_START, IM_END))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=160, d_model=48, n_layers=2, n_heads=4))
    directory = tmp_path_factory.mktemp("reward") / "model"
    save_model(model, directory)
    tokenizer.save(directory / "tokenizer.json")
    return directory


def _config(steps: int, method: str = "full") -> RewardConfig:
    train = TrainConfig(max_steps=steps, lr=1e-3, min_lr=1e-4, warmup_steps=2, eval_interval=steps // 2,
                        checkpoint_interval=steps // 2, log_interval=5, precision="fp32", seed=0)
    return RewardConfig(max_len=160, batch_size=8, train=train, adapters=AdapterConfig(method))


@pytest.mark.slow
def test_reward_model_learns_the_pairs_and_reports_held_out_accuracy(pref_model_dir, tmp_path):
    train, held_out = hold_out(read_preferences(PREFERENCES), 30)
    model, tokenizer, template = load_chat_model(pref_model_dir)
    result = finetune_reward(model, tokenizer, template, train, held_out, tmp_path / "rm", _config(40),
                             source_dir=pref_model_dir, console=QUIET)
    steps = [e["step"] for e in result.evals]
    assert steps == [0, 20, 40]  # before, the middle evaluation, the end
    before, after = result.evals[0]["eval_accuracy"], result.evals[-1]["eval_accuracy"]
    assert after >= before + 0.2, result.summary()  # measured: 36.7% -> 70.0% (training batches 48% -> 91%)
    assert result.train_accuracy_last > result.train_accuracy_first
    logged = [json.loads(line) for line in (tmp_path / "rm" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged if "eval_accuracy" in r] == steps[1:]  # the Trainer's log starts at step 1
    assert json.loads((tmp_path / "rm" / "task.json").read_text())["evals"] == result.evals
    reloaded = load_task_model(tmp_path / "rm")  # an ordinary task model directory: scores any chat
    assert reloaded.config.task == "reward" and (tmp_path / "rm" / "tokenizer.json").is_file()


def test_resumed_reward_run_equals_the_uninterrupted_one(pref_model_dir, tmp_path):
    """Two runs of 8 steps (checkpoints at 4 and 8); the second is rewound to its step-4 checkpoint, as if it had
    died after it, and resumed: the losses and the final held-out rewards are the uninterrupted run's."""
    train, held_out = hold_out(read_preferences(PREFERENCES), 16, limit=48)
    runs = {}
    for name in ("straight", "resumed"):
        model, tokenizer, template = load_chat_model(pref_model_dir)
        runs[name] = finetune_reward(model, tokenizer, template, train, held_out, tmp_path / name, _config(8, "lora"),
                                     console=QUIET)
    rewind_to_checkpoint(tmp_path / "resumed", 4)
    model, tokenizer, template = load_chat_model(pref_model_dir)
    resumed = finetune_reward(model, tokenizer, template, train, held_out, tmp_path / "resumed", _config(8, "lora"),
                              resume=True, console=QUIET)
    assert logged_losses(tmp_path / "resumed") == logged_losses(tmp_path / "straight")
    assert resumed.evals[-1] == runs["straight"].evals[-1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_reward_model_on_cuda_scores_like_the_cpu_before_training(pref_model_dir, tmp_path):
    """The new score head follows the backbone to the GPU and the held-out pairs are moved there; the seeded
    head ranks the held-out pairs as on the CPU before the first update."""
    train, held_out = hold_out(read_preferences(PREFERENCES), 16, limit=48)
    before = {}
    for name in ("cpu", "cuda"):
        model, tokenizer, template = load_chat_model(pref_model_dir, torch.device(name))
        result = finetune_reward(model, tokenizer, template, train, held_out, tmp_path / name, _config(2),
                                 console=QUIET)
        before[name] = result.evals[0]["eval_accuracy"]
    assert before["cuda"] == before["cpu"]


def test_cli_finetune_reward(pref_model_dir, tmp_path):
    result = CliRunner().invoke(app, ["reward", "--data", str(PREFERENCES), "--model", str(pref_model_dir),
                                      "--out", str(tmp_path / "rm"), "--steps", "2", "--eval-examples", "8",
                                      "--limit", "16", "--max-len", "160", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "held-out pairwise accuracy on 8 pairs: step 0:" in result.output
