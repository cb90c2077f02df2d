"""Instruction tuning: chat encoding with answer-only labels, packing, SFT and DPO runs on the one Trainer,
and the ``lmforge finetune sft|dpo`` commands, on a slice of the LLMs-from-scratch ch07 data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from lmforge.cli.finetune import app
from lmforge.errors import DataError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import load_model, save_model
from lmforge.peft import LoraConfig
from lmforge.tasks.preference import DPOConfig, finetune_dpo, read_preferences
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
                       checkpoint_interval=steps, log_interval=5, seed=0)


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


def test_dpo_raises_preference_accuracy(chat_model_dir, tmp_path):
    model, tokenizer, template = load_chat_model(chat_model_dir)
    records = read_preferences(PREFERENCES)
    lora = AdapterConfig("lora", LoraConfig(r=8, alpha=16, target_modules=["qkv", "proj", "up", "down"]))
    config = DPOConfig(beta=0.1, max_len=192, batch_size=4, train=_train_config(30, 5e-3), adapters=lora)
    result = finetune_dpo(model, tokenizer, template, records[:40], records[100:], tmp_path, config,
                          source_dir=chat_model_dir, console=QUIET)
    assert result.accuracy_before == 0.0  # policy == reference: every margin is exactly 0
    assert result.train_accuracy_last > result.train_accuracy_first + 0.3
    assert result.train_accuracy_last >= 0.9
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "dpo_result.json").is_file()


def test_cli_sft_with_qlora_and_errors(chat_model_dir, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    result = runner.invoke(app, ["sft", "--data", str(INSTRUCTIONS), "--model", str(chat_model_dir), "--out", str(out),
                                 "--method", "qlora", "--steps", "3", "--batch-size", "4", "--eval-examples", "8",
                                 "--limit", "16", "--max-len", "128"])
    assert result.exit_code == 0, result.output
    assert "answer perplexity on 8 held-out examples" in result.output
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert load_model(out).config.vocab_size == 512  # merged, dequantized: an ordinary model directory
    bad = runner.invoke(app, ["sft", "--data", str(INSTRUCTIONS), "--model", str(chat_model_dir), "--out", str(out),
                              "--eval-examples", "500"])
    assert bad.exit_code != 0 and "--eval-examples must be between 1 and 119" in str(bad.exception)
