import json

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import load_model, save_model

SMALL = dict(vocab_size=101, context_length=16, d_model=32, n_layers=3, n_heads=4)


def test_parameter_count_matches_the_formula():
    c = GPTConfig(**SMALL)
    d, v, t, n = c.d_model, c.vocab_size, c.context_length, c.n_layers
    per_block = (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d
    expected = v * d + t * d + n * per_block + 2 * d  # tied head adds nothing
    model = GPT(c)
    assert model.num_parameters() == expected
    assert model.num_parameters(non_embedding=True) == expected - t * d


def test_weights_are_tied_unless_disabled():
    tied = GPT(GPTConfig(**SMALL))
    assert tied.lm_head.weight is tied.tok_emb.weight
    untied = GPT(GPTConfig(**SMALL, tie_embeddings=False))
    assert untied.lm_head.weight is not untied.tok_emb.weight
    assert untied.num_parameters() == tied.num_parameters() + SMALL["vocab_size"] * SMALL["d_model"]


def test_init_scales_residual_projections():
    model = GPT(GPTConfig(**{**SMALL, "d_model": 256, "n_heads": 4, "n_layers": 8}))
    assert model.blocks[0].mlp.up.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.blocks[0].attn.proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.05)  # 1/sqrt(2*8)
    assert torch.all(model.blocks[0].attn.qkv.bias == 0)


def test_initial_loss_is_near_uniform():
    import math

    from lmforge.objectives.clm import causal_lm_loss

    model = GPT(GPTConfig(**SMALL))
    x, y = torch.randint(0, SMALL["vocab_size"], (2, 4, 16))
    loss = causal_lm_loss(model, (x, y))
    assert loss.item() == pytest.approx(math.log(SMALL["vocab_size"]), rel=0.05)


def test_reference_attention_model_matches_sdpa_model():
    fast = GPT(GPTConfig(**SMALL)).eval()
    slow = GPT(GPTConfig(**SMALL, attention_impl="reference")).eval()
    slow.load_state_dict(fast.state_dict())
    x = torch.randint(0, SMALL["vocab_size"], (2, 16))
    torch.testing.assert_close(fast(x), slow(x), atol=1e-5, rtol=1e-5)


def test_save_and_load_round_trip(tmp_path):
    model = GPT(GPTConfig(**SMALL)).eval()
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    x = torch.randint(0, SMALL["vocab_size"], (2, 10))
    assert torch.equal(model(x), loaded(x))
    assert loaded.lm_head.weight is loaded.tok_emb.weight


@pytest.mark.parametrize(
    "edit,message",
    [
        ({"n_layer": 2}, "unknown field"),
        ({"d_model": "wide"}, "d_model"),
        ({"family": "nope"}, "unknown model family"),
        ({"n_heads": 5}, "not divisible"),
    ],
)
def test_bad_config_json_is_explained(tmp_path, edit, message):
    save_model(GPT(GPTConfig(**SMALL)), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.update(edit)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=message):
        load_model(tmp_path)


def test_weights_that_do_not_fit_the_config_are_explained(tmp_path):
    save_model(GPT(GPTConfig(**SMALL)), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["n_layers"] = 4
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="missing"):
        load_model(tmp_path)


def test_not_a_model_dir(tmp_path):
    with pytest.raises(ConfigError, match="not an lmforge model directory"):
        load_model(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "missing")


@pytest.mark.parametrize("position", ["sinusoidal", "alibi"])
def test_other_position_schemes_work_with_the_cache(position):
    model = GPT(GPTConfig(**SMALL, position=position)).eval()
    assert model.pos_emb is None if position == "alibi" else not list(model.pos_emb.parameters())
    x = torch.randint(0, SMALL["vocab_size"], (1, 12))
    with torch.no_grad():
        full = model(x)
        cache = model.new_cache(1)
        steps = [model(x[:, :5], cache)] + [model(x[:, i : i + 1], cache) for i in range(5, 12)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def segment_twins(memory: int) -> tuple[GPT, GPT]:
    """A plain ALiBi GPT and the same weights reading windows in segments of 4 with ``memory``."""
    torch.manual_seed(0)
    config = dict(SMALL, position="alibi", context_length=16)
    plain = GPT(GPTConfig(**config)).eval()
    segmented = GPT(GPTConfig(**config, segment_length=4, memory=memory)).eval()
    segmented.load_state_dict(plain.state_dict())
    return plain, segmented


def test_with_memory_covering_the_window_segments_compute_full_attention():
    plain, segmented = segment_twins(memory=16)
    x = torch.randint(0, SMALL["vocab_size"], (2, 16))
    torch.testing.assert_close(segmented(x), plain(x), atol=1e-5, rtol=1e-5)


def test_a_shorter_memory_limits_what_a_segment_sees():
    plain, segmented = segment_twins(memory=4)
    x = torch.randint(0, SMALL["vocab_size"], (2, 16))
    torch.testing.assert_close(segmented(x)[:, :8], plain(x)[:, :8], atol=1e-5, rtol=1e-5)  # saw everything
    assert not torch.allclose(segmented(x)[:, 8:], plain(x)[:, 8:], atol=1e-3)  # the first segment is gone


def test_the_memory_carries_information_but_no_gradient():
    _, segmented = segment_twins(memory=4)
    segmented.train()
    x = torch.randint(0, SMALL["vocab_size"], (1, 8))
    changed = x.clone()
    changed[:, :4] = (x[:, :4] + 1) % SMALL["vocab_size"]
    assert not torch.allclose(segmented(x)[:, 4:], segmented(changed)[:, 4:])  # segment 2 reads segment 1

    embedded = segmented.tok_emb(x).detach().requires_grad_()
    segmented.tok_emb = torch.nn.Identity()  # feed the embeddings directly, to ask for their gradient
    segmented.hidden(embedded)[:, 4:].sum().backward()
    assert not embedded.grad[:, :4].any() and embedded.grad[:, 4:].any()


@pytest.mark.parametrize("fields, message", [
    (dict(segment_length=4), "position='alibi'"),
    (dict(position="alibi", memory=4), "needs segment_length"),
    (dict(position="alibi", segment_length=4, memory=0), "memory must be positive"),
])
def test_bad_segment_settings_are_explained(fields, message):
    with pytest.raises(ConfigError, match=message):
        GPT(GPTConfig(**SMALL, **fields))


def test_rope_with_an_odd_head_width_is_a_config_error_not_a_failing_forward():
    with pytest.raises(ConfigError, match=r"position='rope' rotates channel pairs.* = 15 must be even"):
        GPTConfig(**{**SMALL, "d_model": 30, "n_heads": 2, "position": "rope"}).validate()
    GPT(GPTConfig(**{**SMALL, "d_model": 28, "n_heads": 2, "position": "rope"}))(torch.zeros(1, 4, dtype=torch.long))
