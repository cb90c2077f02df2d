"""Online RL on the one Trainer: the arithmetic task and its reward, GRPO and PPO runs that sample through the
generation engine, log held-out reward and replies at every evaluation, resume exactly; ``lmforge finetune
grpo|ppo``. Tiny random chat models: the plumbing and its exactness are checked here, learning in the docs' run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from rich.console import Console
from rl_helpers import logged_losses, rewind_to_checkpoint
from typer.testing import CliRunner

from lmforge.cli.finetune import app
from lmforge.cli.main import run
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.tasks.arithmetic import Problem, ProblemStream, Score, held_out_problems, score_reply
from lmforge.tasks.rl import RLConfig, finetune_rl
from lmforge.tasks.sft import AdapterConfig, load_chat_model
from lmforge.tokenizers import train_tokenizer
from lmforge.tokenizers.chat_template import IM_END, IM_START
from lmforge.train.trainer import TrainConfig

QUIET = Console(stderr=True, quiet=True)


def test_reward_scores_correctness_and_format():
    assert score_reply(" 42", "42").reward == 1.5 and score_reply("42", "42").exact
    assert score_reply("17 + 25 = 42", "42").reward == 1.0  # right, but not the format asked for
    assert score_reply("41", "42").reward == 0.5 and not score_reply("41", "42").correct
    assert score_reply("no idea", "42").reward == 0.0
    assert score_reply("-3", "-3").exact and Problem(2, "-", 5).answer == "-3"


def test_held_out_problems_never_reach_training():
    held_out = held_out_problems(20, max_operand=5)
    assert len(set(held_out)) == 20 and held_out == held_out_problems(20, max_operand=5)
    stream = ProblemStream(5, held_out, seed=0)
    drawn = [stream.next() for _ in range(300)]
    assert not set(drawn) & set(held_out)
    stream.index = 100
    assert stream.next() == drawn[100]  # the position is all a resumed stream needs


@pytest.fixture(scope="module")
def arithmetic_model_dir(tmp_path_factory) -> Path:
    """A random tiny GPT with a BPE (ChatML markers special) trained on arithmetic questions and answers."""
    texts = [f"{p.prompt} {p.a} {p.op} {p.b} = {p.answer}" for p in held_out_problems(200, 20, seed=1)]
    tokenizer = train_tokenizer("bpe", texts, vocab_size=300, special_tokens=("<|endoftext|>", IM_START, IM_END))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=64, d_model=32, n_layers=1, n_heads=2))
    directory = tmp_path_factory.mktemp("arith") / "model"
    save_model(model, directory)
    tokenizer.save(directory / "tokenizer.json")
    return directory


def _config(algorithm: str, steps: int = 6) -> RLConfig:
    train = TrainConfig(max_steps=steps, lr=1e-3, min_lr=1e-4, warmup_steps=1, eval_interval=steps // 2,
                        checkpoint_interval=steps // 2, log_interval=1, precision="fp32", seed=0)
    return RLConfig(algorithm, prompts_per_step=2, group_size=3, iterations=2, max_new_tokens=4, beta=0.1,
                    n_eval=4, samples_shown=2, train=train, adapters=AdapterConfig("lora"))


def _digit_share(reply: str, answer: str) -> Score:
    """A denser reward than the task's for an untrained tiny model (which never answers right): the share of
    digit characters, so that the groups' replies differ and the policy gets a gradient."""
    share = sum(c.isdigit() for c in reply) / max(len(reply), 1)
    return Score(share, False, False, False)


@pytest.mark.parametrize("algorithm", ["grpo", pytest.param("ppo", marks=pytest.mark.slow)])
def test_rl_run_logs_held_out_replies_and_resumes_exactly(arithmetic_model_dir, tmp_path, algorithm, monkeypatch):
    """Two identical runs of 6 steps (checkpoints at 3 and 6: mid-way through a batch of samples, which serves
    two steps); the second is rewound to step 3 and resumed. Losses and held-out results are the first run's."""
    monkeypatch.setattr("lmforge.tasks.rl.score_reply", _digit_share)
    runs = {}
    for name in ("straight", "resumed"):
        model, tokenizer, template = load_chat_model(arithmetic_model_dir)
        runs[name] = finetune_rl(model, tokenizer, template, tmp_path / name, _config(algorithm),
                                 source_dir=arithmetic_model_dir, console=QUIET)
    straight = runs["straight"]
    assert [e["step"] for e in straight.evals] == [0, 3, 6]
    assert all(len(e["samples"]) == 2 and "reply" in e["samples"][0] for e in straight.evals)
    assert [s for s, _ in straight.kl] == [3, 6] and all(kl >= 0 for _, kl in straight.kl)
    assert [r["step"] for r in straight.rollouts] == [0, 2, 4]  # a new batch of samples every two steps
    assert straight.kl[-1][1] > 0  # the policy moved away from the reference
    assert (tmp_path / "straight" / "curves.png").is_file() and (tmp_path / "straight" / "adapter").is_dir()
    result = json.loads((tmp_path / "straight" / "rl_result.json").read_text())
    assert result["evals"][0]["step"] == 0 and result["algorithm"] == algorithm

    rewind_to_checkpoint(tmp_path / "resumed", 3)
    model, tokenizer, template = load_chat_model(arithmetic_model_dir)
    resumed = finetune_rl(model, tokenizer, template, tmp_path / "resumed", _config(algorithm), resume=True,
                          console=QUIET)
    assert logged_losses(tmp_path / "resumed") == logged_losses(tmp_path / "straight")
    assert resumed.evals[-1] == straight.evals[-1] and resumed.kl == straight.kl


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_rl_run_on_cuda_starts_where_the_cpu_run_starts(arithmetic_model_dir, tmp_path, algorithm):
    """Rollouts, reference log-probs, PPO's value head and the held-out evaluation all live on the policy's GPU;
    before any update the greedy held-out replies are the CPU's."""
    results = {}
    for name in ("cpu", "cuda"):
        model, tokenizer, template = load_chat_model(arithmetic_model_dir, torch.device(name))
        results[name] = finetune_rl(model, tokenizer, template, tmp_path / name, _config(algorithm, steps=2),
                                    source_dir=arithmetic_model_dir, console=QUIET)
        assert next(model.parameters()).device.type == name
    assert results["cuda"].evals[0]["samples"] == results["cpu"].evals[0]["samples"]
    assert [s for s, _ in results["cuda"].kl] == [1, 2] and all(kl >= 0 for _, kl in results["cuda"].kl)


def test_cli_finetune_grpo(arithmetic_model_dir, tmp_path, capsys):
    result = CliRunner().invoke(app, ["grpo", "--model", str(arithmetic_model_dir), "--out", str(tmp_path / "g"),
                                      "--steps", "2", "--prompts-per-step", "1", "--group-size", "2",
                                      "--max-new-tokens", "3", "--eval-problems", "2", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "held-out reward" in result.output and "exact match" in result.output
    capsys.readouterr()
    assert run(["finetune", "grpo", "--model", str(arithmetic_model_dir), "--out", str(tmp_path / "b"),
                "--group-size", "1"]) == 2
    assert "--group-size of at least 2" in capsys.readouterr().err
