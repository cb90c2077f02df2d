"""Attention heatmaps: captured weights are the model's own, for every family, real MiniLM and SmolLM2 included."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from lmforge.cli.main import _register, app
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import save_model
from lmforge.models.t5 import T5, T5Config
from lmforge.tokenizers import CharTokenizer
from lmforge.viz.attention import attention_maps, pick, plot_attention

SENTENCE = "The cat sat on the mat."


def tiny(family: str):
    torch.manual_seed(0)
    if family == "gpt":
        return GPT(GPTConfig(vocab_size=40, context_length=32, d_model=32, n_layers=2, n_heads=4))
    if family == "llama":
        return Llama(LlamaConfig(vocab_size=40, context_length=32, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                 d_mlp=64))
    if family == "bert":
        return Bert(BertConfig(vocab_size=40, context_length=32, d_model=32, n_layers=3, n_heads=4, d_mlp=64,
                               share_layers=True, dropout=0.0))
    return T5(T5Config(vocab_size=40, d_model=32, d_head=8, n_heads=4, d_mlp=64, n_layers=2, dropout=0.0))


@pytest.mark.parametrize("family", ["gpt", "llama", "bert", "t5"])
def test_maps_are_distributions_and_leave_the_model_unchanged(family):
    model = tiny(family)
    ids = torch.arange(1, 11)
    before = model(ids[None]) if family != "t5" else model.encode(ids[None])
    maps = attention_maps(model, ids)
    layers = {"gpt": 2, "llama": 2, "bert": 3, "t5": 2}[family]  # ALBERT sharing: one module, 3 layers
    assert maps.shape == (layers, 4, 10, 10)
    assert torch.allclose(maps.sum(-1), torch.ones(layers, 4, 10), atol=1e-5)
    if family in ("gpt", "llama"):
        assert maps.triu(1).abs().max() == 0  # causal: nothing above the diagonal
    after = model(ids[None]) if family != "t5" else model.encode(ids[None])
    assert torch.allclose(before, after, atol=1e-5)
    assert all(m.impl == "sdpa" for m in model.modules() if hasattr(m, "impl"))
    if family == "bert":  # shared layers really differ per use: each layer sees different inputs
        assert not torch.allclose(maps[0], maps[1])


def test_maps_match_transformers_output_attentions():
    transformers = pytest.importorskip("transformers")
    from lmforge.interop.convert import import_hf, minilm_hf_path

    hf_dir = minilm_hf_path()
    hf = transformers.AutoModel.from_pretrained(str(hf_dir), attn_implementation="eager").eval()
    ids = torch.tensor([101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102])
    expected = torch.stack(hf(ids[None], output_attentions=True).attentions)[:, 0]
    assert torch.allclose(attention_maps(import_hf(hf_dir), ids), expected, atol=1e-5)


def test_pick_layers_and_heads():
    assert pick(6, None, "layers") == list(range(6))
    assert pick(30, None, "layers") == [0, 3, 5, 8, 11, 13, 16, 18, 21, 24, 26, 29]
    assert pick(9, [0, 8], "heads") == [0, 8]
    with pytest.raises(Exception, match=r"heads \[9\] out of range"):
        pick(9, [9], "heads")


def test_plot_writes_png(tmp_path):
    maps = torch.softmax(torch.randn(2, 3, 5, 5), -1)
    out = plot_attention(maps, list("abcde"), tmp_path / "a.png", "title")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_on_an_lmforge_model_dir(tmp_path):
    model = tiny("gpt")
    save_model(model, tmp_path / "m")
    tok = CharTokenizer.train("The cat sat on the mat. abcdefghijklmnopqrstuvwxyz")
    tok.save(tmp_path / "m" / "tokenizer.json")
    _register()
    result = CliRunner().invoke(app, ["attention", SENTENCE, "--model", str(tmp_path / "m"), "-o",
                                      str(tmp_path / "g.png"), "--heads", "0,1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").stat().st_size > 1000
    result = CliRunner().invoke(app, ["attention", "x" * 40, "--model", str(tmp_path / "m")])
    assert "reads at most 32" in str(result.exception)


def test_real_minilm_picture_for_the_readme(tmp_path):
    from lmforge.interop.convert import minilm_hf_path

    _register()
    out = tmp_path / "attention-minilm.png"
    result = CliRunner().invoke(app, ["attention", SENTENCE, "--model", str(minilm_hf_path()), "-o", str(out),
                                      "--heads", "0,1,2,3,4,5"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000


@pytest.mark.slow
def test_real_smollm2_gguf(tmp_path):
    from lmforge.interop.convert import smollm2_gguf_path

    _register()
    out = tmp_path / "smol.png"
    result = CliRunner().invoke(app, ["attention", SENTENCE, "--model", str(smollm2_gguf_path()), "-o", str(out),
                                      "--layers", "0,15,29"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 10_000
