"""Instruction tuning: chat encoding with answer-only labels, packing, SFT and DPO runs on the one Trainer,
and the ``lmforge finetune sft|dpo`` commands, on a slice of the LLMs-from-scratch ch07 data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from lmforge.cli.finetune import app
from lmforge.errors import DataError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import load_model, save_model
from lmforge.objectives.dpo import DPOObjective, answer_logps
from lmforge.peft import LoraConfig
from lmforge.tasks.batching import in_batches
from lmforge.tasks.preference import (
    DPOConfig,
    collate_pairs,
    encode_preferences,
    finetune_dpo,
    read_preferences,
    score_reference,
)
from lmforge.tasks.sft import (
    IGNORE,
    AdapterConfig,
    SFTConfig,
    collate,
    encode_chat,
    encode_instructions,
    finetune_sft,
    instruction_chat,
    load_chat_model,
    pack,
    read_instructions,
)
from lmforge.tokenizers import train_tokenizer
from lmforge.tokenizers.chat_template import IM_END, IM_START
from lmforge.train.trainer import TrainConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "instruction_data"
INSTRUCTIONS, PREFERENCES = DATA / "instructions_120.json", DATA / "preference_120.json"
QUIET = Console(stderr=True, quiet=True)


@pytest.fixture(scope="module")
def chat_model_dir(tmp_path_factory) -> Path:
    """A random tiny GPT with a 512-token BPE (ChatML markers as special tokens) trained on the slice."""
    records = read_instructions(INSTRUCTIONS)
    texts = [r["instruction"] + " " + r.get("input", "") + " " + r["output"] for r in records]
    tokenizer = train_tokenizer("bpe", texts, vocab_size=512, special_tokens=("<|endoftext|>", IM_START, IM_END))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=192, d_model=64, n_layers=2, n_heads=4))
    directory = tmp_path_factory.mktemp("chat") / "model"
    save_model(model, directory)
    tokenizer.save(directory / "tokenizer.json")
    return directory


def _train_config(steps: int, lr: float) -> TrainConfig:
    return TrainConfig(max_steps=steps, lr=lr, min_lr=lr / 10, warmup_steps=2, eval_interval=steps,
                       checkpoint_interval=steps, log_interval=5, precision="fp32", seed=0)


def test_only_answer_tokens_carry_labels(chat_model_dir):
    _, tokenizer, template = load_chat_model(chat_model_dir)
    record = read_instructions(INSTRUCTIONS)[1]
    example = encode_chat(tokenizer, template, instruction_chat(record), max_len=1000)
    text = template.render(instruction_chat(record))
    assert tokenizer.decode(example.ids) == text
    answer = [t for t in example.labels if t != IGNORE]
    assert tokenizer.decode(answer) == record["output"] + IM_END + "\n"
    first = example.labels.index(answer[0])
    assert all(label == IGNORE for label in example.labels[:first])
    assert tokenizer.decode(example.ids[:first]) == template.render([instruction_chat(record)[0]],
                                                                    add_generation_prompt=True)
    assert encode_chat(tokenizer, template, instruction_chat(record), max_len=10).ids == example.ids[:10]


def test_packing_keeps_examples_whole_within_the_row_length(chat_model_dir):
    _, tokenizer, template = load_chat_model(chat_model_dir)
    examples, dropped = encode_instructions(read_instructions(INSTRUCTIONS)[:40], tokenizer, template, 128)
    assert dropped == 0
    rows = pack(examples, 128)
    assert len(rows) < 0.7 * len(examples)  # ~60-token chats: about two per 128-token row
    assert all(len(r.ids) <= 128 for r in rows)
    assert [t for r in rows for t in r.ids] == [t for e in examples for t in e.ids]  # in order, none split
    inputs, targets = collate(rows[:3])
    assert inputs.shape == targets.shape
    assert inputs[0, : len(rows[0].ids) - 1].tolist() == rows[0].ids[:-1]
    assert targets[0, : len(rows[0].ids) - 1].tolist() == rows[0].labels[1:]
    assert (targets[0, len(rows[0].ids) - 1:] == IGNORE).all()  # padding carries no loss


def test_malformed_records_name_the_entry_and_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"instruction": "a", "output": "b"}, {"instruction": "c", "output": 3}]')
    with pytest.raises(DataError, match=r"bad.json: entry 1: field 'output' should be a str, got int"):
        read_instructions(path)
    path.write_text('{"instruction": "a"}\n')
    with pytest.raises(DataError, match="JSON array"):
        read_instructions(path)
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"instruction": "a", "chosen": "b"}\n')
    with pytest.raises(DataError, match=r"line 1: missing field 'rejected'"):
        read_preferences(jsonl)


def test_sft_lowers_held_out_answer_perplexity(chat_model_dir, tmp_path):
    model, tokenizer, template = load_chat_model(chat_model_dir)
    records = read_instructions(INSTRUCTIONS)
    config = SFTConfig(max_len=192, batch_size=8, packing=True, train=_train_config(40, 3e-3))
    result = finetune_sft(model, tokenizer, template, records[:100], records[100:], tmp_path, config,
                          source_dir=chat_model_dir, console=QUIET)
    # a random 512-token model starts near perplexity 512; 40 steps on 100 answers must cut that a lot
    assert result.ppl_before > 300 and result.ppl_after < result.ppl_before / 4
    assert result.trainable_params == result.total_params
    reloaded = load_model(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file() and reloaded.config == model.config


def test_dpo_raises_preference_accuracy_and_logs_held_out_accuracy_at_every_evaluation(chat_model_dir, tmp_path):
    model, tokenizer, template = load_chat_model(chat_model_dir)
    records = read_preferences(PREFERENCES)
    lora = AdapterConfig("lora", LoraConfig(r=8, alpha=16, target_modules=["qkv", "proj", "up", "down"]))
    train = TrainConfig(max_steps=30, lr=5e-3, min_lr=5e-4, warmup_steps=2, eval_interval=10, checkpoint_interval=30,
                        log_interval=5, precision="fp32", seed=0)
    config = DPOConfig(beta=0.1, max_len=192, batch_size=4, train=train, adapters=lora)
    result = finetune_dpo(model, tokenizer, template, records[:40], records[100:], tmp_path, config,
                          source_dir=chat_model_dir, console=QUIET)
    # against chance (0.5) and the untrained policy (= the reference: every held-out margin 0), not against the
    # first steps' training accuracy, which bf16 rounding lifts to ~0.7 before any learning (fp32: ~0.46)
    assert result.train_accuracy_last >= 0.9
    assert result.final["eval_accuracy"] > 0.5 and result.final["eval_reward_margin"] > 0.05
    assert [e["step"] for e in result.evals] == [10, 20, 30]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in lines if "eval_accuracy" in r] == result.evals
    assert [r["step"] for r in lines if "val_loss" in r] == [10, 20, 30]  # the Trainer's own evaluations
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert json.loads((tmp_path / "dpo_result.json").read_text())["evals"] == result.evals

    # the last evaluation, recomputed independently: the saved (merged) model against the untouched reference
    reference, policy = load_model(chat_model_dir).eval(), load_model(tmp_path).eval()
    pairs, _ = encode_preferences(records[100:], tokenizer, template, 192)
    with torch.no_grad():
        rewards = torch.cat([0.1 * (answer_logps(policy, b.ids, b.mask) - answer_logps(reference, b.ids, b.mask))
                             .view(2, -1) for b in in_batches(pairs, 4, collate_pairs)], dim=1)  # (2, N)
    chosen, rejected = rewards
    assert len(pairs) == result.n_eval == 20
    assert result.final["eval_accuracy"] == pytest.approx((chosen > rejected).float().mean().item(), abs=0.051)
    assert result.final["eval_reward_margin"] == pytest.approx((chosen - rejected).mean().item(), abs=1e-3)
    assert result.final["eval_reward_chosen"] == pytest.approx(chosen.mean().item(), abs=1e-3)


def test_reference_scores_make_every_margin_zero_before_training(chat_model_dir):
    model, tokenizer, template = load_chat_model(chat_model_dir)
    pairs, _ = encode_preferences(read_preferences(PREFERENCES)[:12], tokenizer, template, 192)
    score_reference(model, pairs, batch_size=4)
    objective = DPOObjective(beta=0.1)
    model.eval()
    losses = [objective(model, batch).item() for batch in in_batches(pairs, 4, collate_pairs)]
    stats = objective.held_out_stats()
    assert losses == pytest.approx([math.log(2)] * 3, abs=1e-6)
    assert stats.accuracy == 0.0 and stats.margin == pytest.approx(0.0, abs=1e-6)  # ties are no wins (as in trl)
    assert objective.history == [] and objective.eval_rewards == []


def test_cli_dpo_reports_held_out_accuracy_during_training(chat_model_dir, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["dpo", "--data", str(PREFERENCES), "--model", str(chat_model_dir), "--out",
                                      str(out), "--steps", "4", "--eval-every", "2", "--eval-examples", "8",
                                      "--limit", "16", "--max-len", "128", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "step 2: held-out preference accuracy" in result.output
    assert "step 4: held-out preference accuracy" in result.output
    evals = json.loads((out / "dpo_result.json").read_text())["evals"]
    assert [e["step"] for e in evals] == [2, 4] and all(0 <= e["eval_accuracy"] <= 1 for e in evals)


def test_cli_sft_with_qlora_and_errors(chat_model_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(app, ["sft", "--data", str(INSTRUCTIONS), "--model", str(chat_model_dir), "--out", str(out),
                                 "--method", "qlora", "--steps", "3", "--batch-size", "4", "--eval-examples", "8",
                                 "--limit", "16", "--max-len", "128", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "answer perplexity on 8 held-out examples" in result.output
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert load_model(out).config.vocab_size == 512  # merged, dequantized: an ordinary model directory
    bad = runner.invoke(app, ["sft", "--data", str(INSTRUCTIONS), "--model", str(chat_model_dir), "--out", str(out),
                              "--eval-examples", "500"])
    assert bad.exit_code != 0 and "--eval-examples must be between 1 and 119" in str(bad.exception)
