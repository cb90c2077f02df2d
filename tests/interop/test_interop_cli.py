"""``lmforge import-hf`` / ``export`` round trip through the CLI, and its one-line errors."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmforge.models.registry import load_model  # noqa: E402


def _lmforge(*args):
    return subprocess.run([sys.executable, "-m", "lmforge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def test_import_hf_then_export_round_trips(tmp_path):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                      num_attention_heads=4, num_key_value_heads=2)
    hf = transformers.LlamaForCausalLM(config).eval()
    hf.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    result = _lmforge("import-hf", tmp_path / "hf", "--out", tmp_path / "ours")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ours" / "tokenizer_config.json").is_file()
    model = load_model(tmp_path / "ours")
    assert model.family == "llama"
    result = _lmforge("export", tmp_path / "ours", "--out", tmp_path / "back")
    assert result.returncode == 0 and "LlamaForCausalLM" in result.stdout, result.stderr
    back = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "back").eval()
    x = torch.randint(0, 64, (1, 9))
    with torch.no_grad():
        torch.testing.assert_close(back(x).logits, hf(x).logits, atol=1e-5, rtol=0)


def test_unsupported_checkpoints_are_one_line_errors(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "mamba"}')
    result = _lmforge("import-hf", tmp_path, "--out", tmp_path / "out")
    assert result.returncode == 2 and "mamba" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "x.gguf").write_bytes(b"not a gguf")
    result = _lmforge("import-gguf", tmp_path / "x.gguf", "--out", tmp_path / "out")
    assert result.returncode == 2 and "GGUF" in result.stderr and "Traceback" not in result.stderr


def test_conversion_cache_keeps_only_complete_directories(tmp_path, monkeypatch):
    """A conversion that fails leaves nothing behind; one that succeeds is reused; scratch dirs are removed."""
    from lmforge.interop import convert

    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path))
    calls = []

    def fake_convert(out: Path) -> None:
        calls.append(out)
        out.mkdir()
        (out / "model.safetensors").write_bytes(b"weights")
        if len(calls) == 1:
            raise RuntimeError("interrupted")
        (out / "tokenizer.json").write_text("{}")

    with pytest.raises(RuntimeError):
        convert._cached("toy", fake_convert)
    assert list(tmp_path.iterdir()) == []
    out = convert._cached("toy", fake_convert)
    assert out == tmp_path / "toy" and (out / "tokenizer.json").is_file()
    assert convert._cached("toy", fake_convert) == out and len(calls) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["toy"]
