import json

import pytest
import torch

from lmforge import precision
from lmforge.errors import ConfigError
from lmforge.models.gpt import GPT, GPTConfig
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


def test_a_time_schedule_needs_a_time_budget():
    from lmforge.train.trainer import TrainConfig

    with pytest.raises(ConfigError, match="needs max_minutes"):
        TrainConfig(schedule="time").validate()
    TrainConfig(schedule="time", max_minutes=1.0).validate()
    assert TrainConfig(max_minutes=1.0).schedule == "time" and TrainConfig().schedule == "steps"


def test_explicit_and_bad_precision():
    assert precision.resolve_precision("bf16").precision == "bf16"
    with pytest.raises(ConfigError, match="auto, fp32, bf16"):
        precision.resolve_precision("fp8")


def _fake_cpu(monkeypatch, flags):
    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("Test CPU", set(flags)))


def _timer(seconds: dict[str, float], calls: list[str] | None = None) -> precision.StepTimer:
    """A step that 'takes' the given seconds per precision, recording the order it was asked for."""
    def time_step(p):
        if calls is not None:
            calls.append(p)
        return seconds[p]
    return precision.StepTimer("test shape", time_step)


@pytest.mark.auto_precision
def test_auto_never_measures_without_native_bf16(monkeypatch):
    _fake_cpu(monkeypatch, {"avx2", "fma"})
    timer = precision.StepTimer("x", lambda p: pytest.fail("no timing on an AVX2-only CPU"))
    assert precision.resolve_precision("auto", timer).precision == "fp32"


@pytest.mark.auto_precision
@pytest.mark.parametrize("bf16_s,expected,ratio", [(0.5, "bf16", "2.00"), (0.95, "bf16", "1.05"),
                                                   (0.96, "fp32", "1.04"), (1.27, "fp32", "0.79")])
def test_auto_picks_bf16_only_when_measured_at_least_5_percent_faster(monkeypatch, bf16_s, expected, ratio):
    _fake_cpu(monkeypatch, {"avx512_bf16"})
    choice = precision.resolve_precision("auto", _timer({"fp32": 1.0, "bf16": bf16_s}))
    assert choice.precision == expected
    assert choice.reason == f"bf16 {ratio}x of fp32 on this model's step (measured): {expected}"


def test_the_measurement_warms_up_alternates_and_takes_medians():
    calls: list[str] = []
    times = {"fp32": iter([9.0, 1.0, 1.0, 5.0, 1.0, 1.0]), "bf16": iter([9.0, 2.0, 0.1, 2.0, 2.0, 2.0])}
    speedup = precision.measure_bf16_speedup(lambda p: calls.append(p) or next(times[p]), max_pairs=5)
    assert calls == ["fp32", "bf16"] * 6  # one warm-up each, then interleaved
    assert speedup == pytest.approx(0.5)  # medians 1.0 / 2.0: the 9 s warm-ups and the outliers do not count


@pytest.mark.auto_precision
def test_the_decision_is_cached_per_shape_and_a_corrupt_cache_is_ignored(monkeypatch):
    _fake_cpu(monkeypatch, {"amx_bf16"})
    calls: list[str] = []
    first = precision.resolve_precision("auto", _timer({"fp32": 1.0, "bf16": 0.5}, calls))
    measured = len(calls)
    again = precision.resolve_precision("auto", _timer({"fp32": 1.0, "bf16": 0.5}, calls))
    assert measured and len(calls) == measured  # the cached decision needed no step
    assert again.precision == first.precision == "bf16" and "(cached)" in again.reason
    other_shape = precision.StepTimer("another shape", lambda p: calls.append(p) or 1.0)
    assert precision.resolve_precision("auto", other_shape).precision == "fp32" and len(calls) > measured
    precision.cache_path().write_text("{not json")
    assert "(measured)" in precision.resolve_precision("auto", _timer({"fp32": 1.0, "bf16": 0.5})).reason
    assert len(json.loads(precision.cache_path().read_text())) == 1  # rewritten whole


@pytest.mark.auto_precision
@pytest.mark.parametrize("forced", ["fp32", "bf16"])
def test_the_environment_forces_what_auto_returns(monkeypatch, forced):
    _fake_cpu(monkeypatch, {"avx2"})
    monkeypatch.setenv(precision.AUTO_ENV, forced)
    timer = precision.StepTimer("x", lambda p: pytest.fail("a forced choice needs no timing"))
    choice = precision.resolve_precision("auto", timer)
    assert choice == precision.PrecisionChoice(forced, f"forced by {precision.AUTO_ENV}")
    assert precision.resolve_precision("fp32").precision == "fp32"  # an explicit precision is never overridden


@pytest.mark.auto_precision
def test_a_bad_forced_value_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(precision.AUTO_ENV, "fp16")
    with pytest.raises(ConfigError, match="LMFORGE_AUTO_PRECISION must be fp32 or bf16, got 'fp16'"):
        precision.resolve_precision("auto")
