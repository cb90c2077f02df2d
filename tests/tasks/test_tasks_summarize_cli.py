"""`lmforge finetune summarize` and `lmforge finetune translate`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from lmforge.cli.finetune import app
from lmforge.errors import DataError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import load_model, save_model
from lmforge.tasks.summarize import read_summaries
from lmforge.tokenizers import train_tokenizer
from lmforge.tokenizers.chat_template import IM_END, IM_START

DATA = Path(__file__).resolve().parents[1] / "data"
ACLSUM = DATA / "aclsum"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    texts = [r["document"] + " " + r["summary"] for r in read_summaries(ACLSUM / "train.jsonl")]
    tokenizer = train_tokenizer("bpe", texts, vocab_size=400, special_tokens=("<|endoftext|>", IM_START, IM_END))
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("cli") / "model"
    save_model(GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=128, d_model=32, n_layers=1,
                             n_heads=2)), directory)
    tokenizer.save(directory / "tokenizer.json")
    return directory


def test_summarize_command(model_dir, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "summarize", "--data", str(ACLSUM / "train.jsonl"), "--eval-data", str(ACLSUM / "test.jsonl"),
        "--model", str(model_dir), "--out", str(out), "--method", "lora", "--limit", "12", "--eval-examples", "3",
        "--steps", "2", "--batch-size", "4", "--max-len", "128", "--max-new-tokens", "8", "--lead", "2",
        "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    assert "ROUGE F1 % on 3 held-out documents" in result.output and "| lead-2 baseline |" in result.output
    saved = json.loads((out / "summarize_result.json").read_text(encoding="utf-8"))
    assert (saved["n_train"], saved["n_eval"], saved["steps"], saved["method"]) == (12, 3, 2, "lora")
    assert len((out / "predictions.jsonl").read_text(encoding="utf-8").splitlines()) == 3
    assert load_model(out).config.vocab_size == 400  # LoRA merged: an ordinary model directory
    # without --eval-data, the last --eval-examples records of --data are held out
    held = CliRunner().invoke(app, ["summarize", "--data", str(ACLSUM / "val.jsonl"), "--model", str(model_dir),
                                    "--out", str(tmp_path / "run2"), "--eval-examples", "2", "--limit", "4",
                                    "--steps", "1", "--max-len", "128", "--max-new-tokens", "4", "--precision", "fp32"])
    assert held.exit_code == 0, held.output
    assert "on 2 held-out documents" in held.output


def test_summarize_user_mistakes(model_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"document": "A.", "summary": "B."}\n{"document": "C.", "summry": "D."}\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["summarize", "--data", str(bad), "--model", str(model_dir),
                                      "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, DataError) and "bad.jsonl: line 2: missing field 'summary'" in str(
        result.exception)
    # through the real entry point: one line on stderr, exit status 2, no traceback
    run = subprocess.run([sys.executable, "-m", "lmforge.cli.main", "finetune", "summarize", "--data", str(bad),
                          "--model", str(model_dir), "--out", str(tmp_path / "o")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "line 2: missing field 'summary'" in run.stderr
    assert "Traceback" not in run.stderr


def test_translate_command(tmp_path):
    out = tmp_path / "t5"
    result = CliRunner().invoke(app, [
        "translate", str(DATA / "eng_fra" / "eng-fra_first20k_train.txt"), "--out", str(out), "--limit", "400",
        "--max-steps", "3", "--batch-size", "16", "--d-model", "32", "--n-layers", "1", "--n-heads", "2",
        "--d-head", "16", "--d-mlp", "64"])
    assert result.exit_code == 0, result.output
    assert "test BLEU" in result.output and " ->  " in result.output
    task = json.loads((out / "task.json").read_text(encoding="utf-8"))
    assert task["task"] == "translate" and task["data"]["limit"] == 400
    assert (out / "vocab.json").is_file()
    bad = CliRunner().invoke(app, ["translate", str(tmp_path / "missing.txt"), "--out", str(out)])
    assert bad.exit_code != 0 and "missing.txt" in str(bad.exception)
