"""`lmforge tokenizer train|encode|decode` through the real CLI app."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmforge.cli import main as cli_main
from lmforge.errors import ConfigError, DataError, LmforgeError
from lmforge.tokenizers import ByteLevelBPE, CharTokenizer, load_tokenizer

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    if not cli_main.app.registered_groups:
        cli_main._register()
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(cli_main.app, ["tokenizer", *map(str, args)])


@pytest.fixture(scope="module")
def small_corpus(corpus, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "part.txt"
    path.write_text(corpus[:60_000], encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bpe_dir(runner, small_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bpe")
    result = invoke(runner, "train", small_corpus, "--vocab-size", 300, "--out", out)
    assert result.exit_code == 0, result.output
    assert "vocab size 300" in result.output
    return out


def test_train_bpe_writes_loadable_tokenizer(bpe_dir, small_corpus):
    tok = load_tokenizer(bpe_dir / "tokenizer.json")
    assert isinstance(tok, ByteLevelBPE) and tok.vocab_size == 300 and tok.eos_id == 299
    # same as training through the library
    expected = ByteLevelBPE.train([small_corpus.read_text(encoding="utf-8")], 300)
    assert tok.merges == expected.merges


def test_train_char_and_multiple_files(runner, tmp_path):
    (tmp_path / "a.txt").write_text("abc", encoding="utf-8")
    (tmp_path / "b.txt").write_text("xyz\n", encoding="utf-8")
    result = invoke(
        runner, "train", tmp_path / "a.txt", tmp_path / "b.txt", "--kind", "char", "--out", tmp_path / "o"
    )
    assert result.exit_code == 0, result.output
    tok = load_tokenizer(tmp_path / "o")
    assert isinstance(tok, CharTokenizer)
    assert tok.chars == list("\nabcxyz")


def test_train_wordpiece_round_trips_words(runner, small_corpus, tmp_path):
    result = invoke(runner, "train", small_corpus, "--kind", "wordpiece", "--vocab-size", 400, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    tok = load_tokenizer(tmp_path)
    assert tok.decode(tok.encode("first citizen")).strip() == "first citizen"
    refused = invoke(runner, "train", small_corpus, "--kind", "wordpiece", "--special", "<s>", "--out", tmp_path)
    assert refused.exit_code != 0


def test_train_custom_specials(runner, small_corpus, tmp_path):
    specials = ["--special", "<|a|>", "--special", "<|b|>"]
    assert (
        invoke(runner, "train", small_corpus, "--vocab-size", 280, *specials, "--out", tmp_path).exit_code
        == 0
    )
    assert load_tokenizer(tmp_path).special_tokens == {"<|a|>": 278, "<|b|>": 279}


def test_encode_and_decode(runner, bpe_dir):
    tok = load_tokenizer(bpe_dir)
    result = invoke(runner, "encode", "--tokenizer", bpe_dir, "First Citizen:")
    assert result.exit_code == 0, result.output
    ids = [int(x) for x in result.output.split()]
    assert ids == tok.encode("First Citizen:")
    result = invoke(runner, "decode", "-t", bpe_dir / "tokenizer.json", *ids)
    assert result.exit_code == 0 and result.output == "First Citizen:\n"


def test_encode_special_flag(runner, bpe_dir):
    plain = invoke(runner, "encode", "-t", bpe_dir, "a<|endoftext|>").output.split()
    special = invoke(runner, "encode", "-t", bpe_dir, "a<|endoftext|>", "--allow-special").output.split()
    assert special[-1] == "299" and "299" not in plain


def test_encode_file(runner, bpe_dir, small_corpus):
    result = invoke(runner, "encode", "-t", bpe_dir, "--file", small_corpus)
    assert result.exit_code == 0
    ids = [int(x) for x in result.output.split()]
    assert load_tokenizer(bpe_dir).decode(ids) == small_corpus.read_text(encoding="utf-8")


def test_help_texts(runner):
    for cmd, words in [("train", "--vocab-size"), ("encode", "--file"), ("decode", "IDS")]:
        result = invoke(runner, cmd, "--help")
        assert result.exit_code == 0 and words in result.output


# ------------------------------------------------------------------ errors
def test_decode_out_of_range(runner, bpe_dir):
    result = invoke(runner, "decode", "-t", bpe_dir, "1", "300")
    assert isinstance(result.exception, LmforgeError)
    assert "token id 300 at position 1" in str(result.exception)


def test_missing_files(runner, bpe_dir, tmp_path):
    result = invoke(runner, "train", tmp_path / "missing.txt", "--out", tmp_path)
    assert isinstance(result.exception, DataError) and "missing.txt" in str(result.exception)
    result = invoke(runner, "encode", "-t", tmp_path / "none.json", "x")
    assert isinstance(result.exception, DataError) and "none.json" in str(result.exception)


def test_empty_corpus(runner, tmp_path):
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    result = invoke(runner, "train", tmp_path / "empty.txt", "--out", tmp_path / "o")
    assert isinstance(result.exception, DataError)
    assert "empty" in str(result.exception) and "empty.txt" in str(result.exception)
    assert not (tmp_path / "o" / "tokenizer.json").exists()


def test_non_utf8_file_reports_byte_offset(runner, tmp_path):
    (tmp_path / "latin1.txt").write_bytes("hello\ncaf\xe9!".encode("latin-1"))
    result = invoke(runner, "train", tmp_path / "latin1.txt", "--out", tmp_path / "o")
    assert isinstance(result.exception, DataError)
    assert "byte offset 9 (line 2)" in str(result.exception)


def test_bad_argument_combinations(runner, bpe_dir, small_corpus, tmp_path):
    result = invoke(runner, "encode", "-t", bpe_dir)
    assert isinstance(result.exception, ConfigError)
    assert "exactly one of TEXT or --file" in str(result.exception)
    result = invoke(runner, "train", small_corpus, "--kind", "char", "--vocab-size", "10", "--out", tmp_path)
    assert isinstance(result.exception, ConfigError) and "--vocab-size" in str(result.exception)
    result = invoke(runner, "train", small_corpus, "--kind", "sentencepiece", "--out", tmp_path)
    assert result.exit_code == 2 and "sentencepiece" in result.output


def test_main_prints_one_line_error_and_exit_2(tmp_path):
    """The installed entry point turns LmforgeError into `error: ...` without a traceback."""
    (tmp_path / "bad.txt").write_bytes(b"ok\xff")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    args = ["tokenizer", "train", str(tmp_path / "bad.txt"), "--out", str(tmp_path)]
    proc = subprocess.run(
        [sys.executable, "-m", "lmforge.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "byte offset 2" in proc.stderr
    assert "Traceback" not in proc.stderr
