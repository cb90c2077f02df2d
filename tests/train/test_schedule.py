import pytest
import torch

from lmforge.models.gpt import GPT, GPTConfig
from lmforge.train import precision
from lmforge.train.schedule import cosine_lr, make_optimizer, param_groups


def test_no_weight_decay_on_norms_biases_and_embeddings():
    model = GPT(GPTConfig(vocab_size=20, context_length=8, d_model=16, n_layers=2, n_heads=2))
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    assert decayed == {n for n in names.values() if n.endswith((".qkv.weight", ".proj.weight", ".up.weight",
                                                                 ".down.weight"))}
    assert "tok_emb.weight" in {names[id(p)] for p in no_decay["params"]}
    total = sum(p.numel() for g in (decay, no_decay) for p in g["params"])
    assert total == model.num_parameters()  # every parameter exactly once (the tied head is not doubled)
    assert isinstance(make_optimizer(model, 1e-3, 0.1, (0.9, 0.95)), torch.optim.AdamW)


def test_cosine_schedule_shape():
    assert cosine_lr(0.0, 1.0, 0.1, 0.1) == 0.0
    assert cosine_lr(0.05, 1.0, 0.1, 0.1) == pytest.approx(0.5)  # halfway through warm-up
    assert cosine_lr(0.1, 1.0, 0.1, 0.1) == pytest.approx(1.0)  # peak
    assert cosine_lr(0.55, 1.0, 0.1, 0.1) == pytest.approx(0.55)  # halfway down: (1 + 0.1) / 2
    assert cosine_lr(1.0, 1.0, 0.1, 0.1) == pytest.approx(0.1)
    assert cosine_lr(2.0, 1.0, 0.1, 0.1) == pytest.approx(0.1)


def test_auto_precision_never_picks_bf16_without_native_support(monkeypatch):
    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("AVX2 CPU", {"avx2", "fma"}))
    monkeypatch.setattr(precision, "probe_bf16_speedup", lambda: pytest.fail("no probe needed"))
    assert precision.resolve_precision("auto").precision == "fp32"


@pytest.mark.parametrize("speedup,expected", [(1.9, "bf16"), (1.02, "fp32"), (0.14, "fp32")])
def test_auto_precision_follows_the_measurement(monkeypatch, speedup, expected):
    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("AMX CPU", {"avx512_bf16", "amx_bf16"}))
    monkeypatch.setattr(precision, "probe_bf16_speedup", lambda: speedup)
    choice = precision.resolve_precision("auto")
    assert choice.precision == expected and f"{speedup:.2f}" in choice.reason


def test_explicit_and_bad_precision():
    assert precision.resolve_precision("bf16").precision == "bf16"
    from lmforge.errors import ConfigError

    with pytest.raises(ConfigError, match="auto, fp32, bf16"):
        precision.resolve_precision("fp8")


def test_probe_returns_a_positive_ratio():
    assert precision.probe_bf16_speedup(seconds=0.05) > 0
