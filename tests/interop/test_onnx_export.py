"""ONNX export: onnxruntime's logits equal lmforge's (atol 1e-4) at another batch size and length than
the traced example, for GPT; other families (Llama: rotary tables traced at one length) are refused."""

import pytest
import torch

from lmforge.cli.main import run
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("position", ["learned", "sinusoidal", "alibi"])
def test_onnxruntime_logits_equal_lmforge(tmp_path, position):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=60, context_length=32, d_model=64, n_layers=2, n_heads=4,
                          position=position)).eval()
    save_model(model, tmp_path / "m")
    assert run(["export", str(tmp_path / "m"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 0
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    ids = torch.randint(0, 60, (3, 21))
    (logits,) = session.run(None, {"input_ids": ids.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), model(ids), atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_other_families_are_refused(tmp_path, capsys, family):
    model = Bert(BertConfig(vocab_size=40, d_model=32, n_layers=1, n_heads=2, d_mlp=64)) if family == "bert" else \
        Llama(LlamaConfig(vocab_size=40, context_length=32, d_model=32, n_layers=1, n_heads=2, n_kv_heads=1, d_mlp=64))
    save_model(model, tmp_path / family)
    assert run(["export", str(tmp_path / family), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert f"ONNX export covers float gpt models (this is a '{family}' model)" in err
    assert not list(tmp_path.glob("*.onnx*")) and not list(tmp_path.glob(".*"))
