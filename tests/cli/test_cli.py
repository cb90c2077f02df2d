"""End-to-end: the commands a user types, run as a user runs them."""

import json
import subprocess
import sys

import pytest


def lmforge(*args, input=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "lmforge.cli.main", *map(str, args)], capture_output=True,
                          text=True, input=input, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("qs") / "run"
    result = lmforge("quickstart", "--preset", "gpt-tiny", "--out", out, "--max-steps", "20", "--precision", "fp32")
    assert result.returncode == 0, result.stderr
    return out, result


def test_quickstart_trains_reports_and_saves(quickstart_run):
    out, result = quickstart_run
    assert "validation loss" in result.stderr and "bits/byte" in result.stderr
    assert "lmforge sample" in result.stderr
    for name in ("model.safetensors", "config.json", "tokenizer.json", "metrics.jsonl", "loss.png", "run.json"):
        assert (out / name).is_file(), name


def test_info_sample_and_chat(quickstart_run):
    out, _ = quickstart_run
    info = lmforge("info", out)
    assert info.returncode == 0 and "CharTokenizer" in info.stdout and "last validation" in info.stdout
    sample = lmforge("sample", out, "--prompt", "ROMEO:", "--max-tokens", "20", "--seed", "1")
    again = lmforge("sample", out, "--prompt", "ROMEO:", "--max-tokens", "20", "--seed", "1")
    assert sample.returncode == 0 and sample.stdout.startswith("ROMEO:") and sample.stdout == again.stdout
    chat = lmforge("chat", out, "--max-tokens", "10", input="Hello\n/reset\nAgain\n/quit\n")
    assert chat.returncode == 0 and "transcript cleared" in chat.stdout


def test_train_resume_and_export(quickstart_run, tmp_path):
    out, _ = quickstart_run
    run = tmp_path / "run"
    first = lmforge("train", "--data", out / "data", "--out", run, "--preset", "gpt-tiny", "--max-steps", "10",
                    "--precision", "fp32")
    assert first.returncode == 0, first.stderr
    settings = json.loads((run / "run.json").read_text())
    settings["train"]["max_steps"] = 15  # extend the finished run, then continue it
    (run / "run.json").write_text(json.dumps(settings))
    resumed = lmforge("train", "--out", run, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stderr and "after 15 steps" in resumed.stdout
    exported = lmforge("export", run, "--out", tmp_path / "hf")
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "hf" / "config.json").is_file() and (tmp_path / "hf" / "tokenizer.json").is_file()


def test_train_a_segment_recurrent_gpt_and_sample_from_it(quickstart_run, tmp_path):
    out, _ = quickstart_run
    common = ["train", "--data", out / "data", "--preset", "gpt-tiny", "--max-steps", "3", "--context-length", "32",
              "--segment-length", "8", "--memory", "16", "--precision", "fp32"]
    refused = lmforge(*common, "--out", tmp_path / "learned")
    assert refused.returncode == 2 and "position='alibi'" in refused.stderr
    trained = lmforge(*common, "--position", "alibi", "--out", tmp_path / "xl")
    assert trained.returncode == 0, trained.stderr
    config = json.loads((tmp_path / "xl" / "config.json").read_text())
    assert (config["segment_length"], config["memory"], config["position"]) == (8, 16, "alibi")
    sample = lmforge("sample", tmp_path / "xl", "--prompt", "ROMEO:", "--max-tokens", "40")
    assert sample.returncode == 0 and sample.stdout.startswith("ROMEO:")


@pytest.mark.parametrize(
    "args,message",
    [
        (["info", "/nonexistent/model"], "model directory not found"),
        (["sample", "."], "not an lmforge model directory"),
        (["train", "--out", "x"], "--data is required"),
        (["train", "--out", "/nonexistent/run", "--resume"], "nothing to resume"),
        (["prepare", "missing.txt", "--tokenizer", "missing.json", "--out", "d"], "not found"),
        (["train", "--data", "d", "--out", "x", "--preset", "nope"], "unknown preset"),
    ],
)
def test_user_mistakes_give_one_clear_line(tmp_path, args, message):
    result = lmforge(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_prepare_reports_bad_bytes_with_offset(tmp_path, quickstart_run):
    out, _ = quickstart_run
    (tmp_path / "bad.txt").write_bytes(b"To be, or not\n\xe9tre")
    result = lmforge("prepare", tmp_path / "bad.txt", "--tokenizer", out / "tokenizer.json", "--out", tmp_path / "d")
    assert result.returncode == 2 and "byte offset 14 (line 2)" in result.stderr


def test_every_command_has_help():
    for command in ("quickstart", "prepare", "train", "sample", "chat", "info", "export", "tokenizer"):
        result = lmforge(command, "--help")
        assert result.returncode == 0 and "Usage" in result.stdout, command


def test_ctrl_c_saves_a_checkpoint_and_resume_continues(quickstart_run, tmp_path):
    import signal
    import time

    out, _ = quickstart_run
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "lmforge.cli.main", "train", "--data", str(out / "data"),
                             "--out", str(run), "--preset", "gpt-tiny", "--max-steps", "100000",
                             "--precision", "fp32"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr
    assert "interrupted" in stderr and "--resume" in stdout
    stopped_at = json.loads((run / "checkpoints" / "latest.json").read_text())["step"]
    assert 0 < stopped_at < 100000
    settings = json.loads((run / "run.json").read_text())
    settings["train"]["max_steps"] = stopped_at + 3
    (run / "run.json").write_text(json.dumps(settings))
    resumed = lmforge("train", "--out", run, "--resume")
    assert resumed.returncode == 0 and f"after {stopped_at + 3} steps" in resumed.stdout
