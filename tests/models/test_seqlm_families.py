"""Bigram, MLP and RNN/LSTM/GRU language models: they train, save/load, stream and run from the CLI."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from lmforge.data.sampler import RandomWindowSampler
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.bigram import BigramConfig, BigramLM
from lmforge.models.registry import build_model, load_model, save_model
from lmforge.train.trainer import TrainConfig, Trainer

FAMILIES = ["bigram", "mlp", "rnn", "lstm", "gru"]
SMALL = {
    "bigram": {},
    "mlp": {"n_context": 4, "d_embed": 8, "d_hidden": 32},
    "rnn": {"d_embed": 8, "d_hidden": 32, "n_layers": 2},
    "lstm": {"d_embed": 8, "d_hidden": 32, "n_layers": 2},
    "gru": {"d_embed": 8, "d_hidden": 32, "n_layers": 2},
}
V = 12


def small_model(family, **extra):
    return build_model({"family": family, "vocab_size": V, "context_length": 16, **SMALL[family], **extra})


def periodic_tokens(n=4000, seed=0):
    """A sequence with structure a bigram can learn part of and a longer memory more of."""
    rng = np.random.default_rng(seed)
    pattern = np.array([0, 1, 2, 3, 1, 4, 5, 1, 6, 7, 8, 9, 10, 11])
    tokens = np.tile(pattern, n // len(pattern) + 1)[:n].copy()
    noise = rng.random(n) < 0.05
    tokens[noise] = rng.integers(0, V, noise.sum())
    return tokens


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_falls_on_a_tiny_run(family, tmp_path):
    model = small_model(family)
    tokens = periodic_tokens()
    config = TrainConfig(max_steps=60, lr=3e-2 if family == "bigram" else 1e-2, min_lr=1e-3, warmup_steps=5,
                         eval_interval=60, checkpoint_interval=60, precision="fp32")

    def val_batches():
        sampler = RandomWindowSampler([tokens], 16, 8, seed=1)
        return (sampler.next_batch() for _ in range(4))

    trainer = Trainer(model, config, RandomWindowSampler([tokens], 16, 8, seed=0), tmp_path, val_batches)
    start, _ = trainer.evaluate()
    result = trainer.fit()
    assert start > 0.9 * math.log(V)  # about uniform before training
    assert result.val_loss < 0.75 * start, (start, result.val_loss)


def test_recurrent_beats_bigram_on_long_range_structure(tmp_path):
    """After '1' the next token depends on what came before '1': only a model with memory can know."""
    tokens = periodic_tokens()
    losses = {}
    for family in ("bigram", "lstm"):
        model = small_model(family)
        config = TrainConfig(max_steps=120, lr=3e-2 if family == "bigram" else 1e-2, min_lr=1e-3, warmup_steps=5,
                             eval_interval=120, checkpoint_interval=120, precision="fp32")

        def val_batches():
            sampler = RandomWindowSampler([tokens], 16, 8, seed=1)
            return (sampler.next_batch() for _ in range(4))

        trainer = Trainer(model, config, RandomWindowSampler([tokens], 16, 8), tmp_path / family, val_batches)
        losses[family] = trainer.fit().val_loss
    assert losses["lstm"] < losses["bigram"] - 0.2, losses


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip(family, tmp_path):
    model = small_model(family).eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    assert loaded.family == family and loaded.config == model.config
    x = torch.randint(0, V, (2, 10))
    torch.testing.assert_close(loaded(x), model(x), atol=0, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_streaming_state_matches_full_forward(family):
    """Feeding one token at a time with the model's state == running the whole sequence."""
    model = small_model(family).eval()
    x = torch.randint(0, V, (1, 10))
    full = model(x)
    cache = model.new_cache(1)
    steps = [model(x[:, :4], cache)] + [model(x[:, t : t + 1], cache) for t in range(4, 10)]
    assert cache.length == 10
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
def test_generation_engine_runs_past_the_context(family):
    model = small_model(family)
    config = SamplingConfig(max_new_tokens=40, temperature=0.0)
    cached = GenerationEngine(model).generate([1, 2, 3], config)
    uncached = GenerationEngine(model).generate([1, 2, 3], SamplingConfig(40, 0.0, use_cache=False))
    assert len(cached) == 40 and all(0 <= t < V for t in cached)
    if family in ("bigram", "mlp"):  # finite memory: the windowed re-run sees everything they use
        assert cached == uncached


def test_count_bigram_is_smoothed_maximum_likelihood():
    tokens = np.array([0, 1, 0, 1, 0, 2])
    model = BigramLM.from_counts(BigramConfig(vocab_size=3), [tokens], smoothing=1.0)
    probs = model.table.weight.exp()
    # after 0: one-counts (1, 1, 1) + pairs 0->1 twice, 0->2 once -> (1, 3, 2) / 6
    torch.testing.assert_close(probs[0], torch.tensor([1 / 6, 3 / 6, 2 / 6]))
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(3))


def test_wrong_config_field_is_a_clear_error():
    from lmforge.errors import ConfigError

    with pytest.raises(ConfigError, match="n_heads"):
        build_model({"family": "lstm", "vocab_size": V, "n_heads": 4})
    with pytest.raises(ConfigError, match="d_hidden must be positive"):
        build_model({"family": "gru", "vocab_size": V, "d_hidden": 0})


def lmforge(*args):
    return subprocess.run([sys.executable, "-m", "lmforge.cli.main", *map(str, args)], capture_output=True,
                          text=True, timeout=300)


def test_cli_train_arch_then_sample(char_data_dir, tmp_path):
    out = tmp_path / "lstm"
    trained = lmforge("train", "--arch", "lstm", "--data", char_data_dir, "--out", out, "--preset", "gpt-tiny",
                      "--max-steps", "3", "--precision", "fp32")
    assert trained.returncode == 0, trained.stderr
    assert '"family": "lstm"' in (out / "config.json").read_text()
    sample = lmforge("sample", out, "--prompt", "ROMEO:", "--max-tokens", "10", "--seed", "1")
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.startswith("ROMEO:")
    unknown = lmforge("train", "--arch", "transformerxl", "--data", char_data_dir, "--out", tmp_path / "x")
    assert unknown.returncode == 2 and "known families" in unknown.stderr
