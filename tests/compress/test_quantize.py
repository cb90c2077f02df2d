"""int8 / int4 weights: the kernels agree with the readable dequantize-then-matmul, rounding stays within
half a step, a quantized directory reloads to identical logits and runs through the ordinary commands,
and bad requests are refused in one line with nothing written."""

import json

import pytest
import torch

from lmforge.cli.main import run
from lmforge.compress.quantize import quantization_spec, quantize_model
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.blocks.quantized import Int4Linear, Int8DynamicLinear, Int8Linear
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import load_model, save_model
from lmforge.tokenizers import CharTokenizer

TEXT = "the quick brown fox jumps over the lazy dog. "


def tiny_gpt() -> GPT:
    return GPT(GPTConfig(vocab_size=40, context_length=32, d_model=64, n_layers=2, n_heads=4)).eval()


def tiny_llama() -> Llama:
    return Llama(LlamaConfig(vocab_size=40, context_length=32, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                             d_mlp=128, tie_embeddings=True)).eval()


@pytest.mark.parametrize("make", [lambda: Int8Linear(96, 40, bias=True), lambda: Int4Linear(96, 40, True, 32),
                                  lambda: Int4Linear(128, 48, False, 64)], ids=["int8", "int4-g32", "int4-g64"])
def test_kernel_matches_the_dequantized_reference(make):
    layer = make()
    layer.quantize_(torch.randn(layer.out_features, layer.in_features) * 0.05)
    if layer.bias is not None:
        layer.bias.data.normal_()
    x = torch.randn(3, 5, layer.in_features).to(torch.bfloat16).float()  # the kernels read bf16 activations
    fast, ref = layer(x), layer.reference_forward(x)
    assert fast.shape == (3, 5, layer.out_features)
    torch.testing.assert_close(fast, ref, atol=2e-2, rtol=1e-2)  # bf16 output rounding, no more


@pytest.mark.parametrize("bias", [False, True])
def test_dynamic_int8_error_is_bounded_by_half_an_activation_step(bias):
    """int8-dynamic quantizes the activations too (7 bits, one scale per call): each output may move by
    at most half an activation step times the row's absolute weight sum — and it does move (not the
    weight-only path in disguise)."""
    torch.manual_seed(0)
    layer = Int8DynamicLinear(96, 40, bias=bias).quantize_(torch.randn(40, 96) * 0.05)
    if bias:
        layer.bias.data.normal_()
    x = torch.randn(3, 5, 96)
    fast, ref = layer(x), layer.reference_forward(x)
    assert fast.dtype == torch.float32 and fast.shape == (3, 5, 40)
    # the quantized range always includes 0 ([min(x, 0), max(x, 0)]), in 127 steps (reduce_range)
    step = (x.max().clamp(min=0) - x.min().clamp(max=0)) / 127
    bound = step / 2 * layer.dequantize().abs().sum(dim=1) * 1.01 + 1e-5  # (40,)
    err = (fast - ref).abs()
    assert (err <= bound).all(), (err / bound).max()
    assert err.max() > 1e-4
    # same storage as int8: the buffers load into an Int8Linear and give its (weight-only) answer
    plain = Int8Linear(96, 40, bias=bias)
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(plain.reference_forward(x), ref)


def test_rounding_error_is_at_most_half_a_step():
    w = torch.randn(48, 128)
    int8 = Int8Linear(128, 48).quantize_(w)
    step8 = int8.scales.float()[:, None]
    assert ((int8.dequantize() - w).abs() <= step8 / 2 * 1.01).all()
    int4 = Int4Linear(128, 48, group_size=32).quantize_(w)
    step4 = int4.scales.float().repeat_interleave(32, dim=1)
    assert ((int4.dequantize() - w).abs() <= step4 / 2 * 1.05 + 1e-3).all()  # + bf16 rounding of the zero point
    assert (int4.dequantize() - w).abs().mean() > (int8.dequantize() - w).abs().mean() * 4  # 4 bits: coarser


@pytest.mark.parametrize("make", [tiny_gpt, tiny_llama], ids=["gpt", "llama"])
@pytest.mark.parametrize("method,group,head", [("int8", None, None), ("int4", 32, None), ("int4", 64, "int4"),
                                               ("int4", 32, "int8-dynamic"), ("int8-dynamic", None, None)])
def test_quantized_directory_reloads_to_identical_logits(tmp_path, make, method, group, head):
    torch.manual_seed(0)
    model = make()
    ids = torch.randint(0, 40, (2, 12))
    with torch.no_grad():
        float_logits = model(ids)
        quantize_model(model, quantization_spec(method, group, head))
        logits = model(ids)
        save_model(model, tmp_path)
        reloaded = load_model(tmp_path)
        assert torch.equal(reloaded(ids), logits)
    saved = json.loads((tmp_path / "config.json").read_text())["quantization"]
    assert saved == {"method": method, "group_size": group, "head": head or "int8"}
    err = (logits - float_logits).abs().max() / float_logits.abs().max()
    assert err < {"int8": 0.03, "int8-dynamic": 0.06}.get(method, 0.2), err


def test_int8_under_the_int4_body_keeps_the_head_closer():
    torch.manual_seed(0)
    ids = torch.randint(0, 40, (2, 12))
    base = tiny_llama()
    errors = {}
    with torch.no_grad():
        ref = base(ids)
        for head in ("int8", "int4"):
            model = tiny_llama()
            model.load_state_dict(base.state_dict())
            quantize_model(model, quantization_spec("int4", 32, head))
            errors[head] = (model(ids) - ref).pow(2).mean().item()
    assert errors["int8"] < errors["int4"], errors


@pytest.fixture
def gpt_dir(tmp_path):
    tokenizer = CharTokenizer.train(TEXT)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=32, d_model=64, n_layers=2, n_heads=4))
    save_model(model, tmp_path / "fp32")
    tokenizer.save(tmp_path / "fp32" / "tokenizer.json")
    return tmp_path / "fp32"


def test_cli_quantize_then_sample(gpt_dir, capsys):
    out = gpt_dir.parent / "int4"
    assert run(["quantize", str(gpt_dir), "--method", "int4", "--group-size", "32", "--out", str(out)]) == 0
    assert (out / "tokenizer.json").is_file()
    assert (out / "model.safetensors").stat().st_size < (gpt_dir / "model.safetensors").stat().st_size / 3
    capsys.readouterr()
    assert run(["sample", str(out), "--prompt", "the ", "--max-tokens", "8", "--temperature", "0"]) == 0
    assert capsys.readouterr().out.startswith("the ")


@pytest.mark.parametrize("args,message", [
    (["--method", "int4", "--group-size", "128"], "does not divide the input width(s) [64]"),
    (["--method", "int4", "--device", "cuda"], "CPU-only kernels"),
    (["--method", "int2"], "--method/--head must be one of"),
])
def test_bad_quantize_requests_are_one_line_and_write_nothing(gpt_dir, capsys, args, message):
    out = gpt_dir.parent / "q"
    assert run(["quantize", str(gpt_dir), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_already_quantized_and_unsupported_families_are_refused(gpt_dir, tmp_path, capsys):
    assert run(["quantize", str(gpt_dir), "--method", "int8", "--out", str(tmp_path / "q8")]) == 0
    assert run(["quantize", str(tmp_path / "q8"), "--method", "int4", "--out", str(tmp_path / "again")]) == 2
    assert "is already quantized (int8)" in capsys.readouterr().err
    save_model(Bert(BertConfig(vocab_size=40, d_model=32, n_layers=1, n_heads=2, d_mlp=64)), tmp_path / "bert")
    assert run(["quantize", str(tmp_path / "bert"), "--method", "int8", "--out", str(tmp_path / "qb")]) == 2
    assert "a 'bert' model cannot be quantized" in capsys.readouterr().err
    assert not (tmp_path / "again").exists() and not (tmp_path / "qb").exists()


def test_int4_kernel_layout_follows_new_weights_and_works_under_inference_mode():
    x = torch.randn(2, 64)
    with torch.inference_mode():  # buffers made here have no version counter
        layer = Int4Linear(64, 32, group_size=32).quantize_(torch.randn(32, 64))
        first = layer(x)
    other = Int4Linear(64, 32, group_size=32).quantize_(torch.randn(32, 64))
    layer = Int4Linear(64, 32, group_size=32).quantize_(torch.randn(32, 64))
    layer(x)  # packs the first weights
    layer.load_state_dict(other.state_dict())
    torch.testing.assert_close(layer(x), other(x))
    assert first.shape == (2, 32)
