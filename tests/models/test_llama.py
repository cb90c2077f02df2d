import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import load_model, save_model

SMALL = dict(vocab_size=61, context_length=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_mlp=48)


def _model(**overrides):
    torch.manual_seed(0)
    model = Llama(LlamaConfig(**{**SMALL, **overrides})).eval()
    with torch.no_grad():  # larger weights, so greedy decoding is varied
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


@pytest.mark.parametrize("n_kv_heads", [4, 2, 1])  # MHA, GQA, MQA
def test_generation_with_cache_equals_without(n_kv_heads):
    engine = GenerationEngine(_model(n_kv_heads=n_kv_heads))
    prompt = [3, 14, 15, 9, 26]
    cached = engine.generate(prompt, SamplingConfig(max_new_tokens=40, temperature=0))
    uncached = engine.generate(prompt, SamplingConfig(max_new_tokens=40, temperature=0, use_cache=False))
    assert cached == uncached and len(set(cached)) >= 3


def test_cache_is_smaller_with_gqa():
    assert _model(n_kv_heads=1).new_cache(1).keys[0].shape == (1, 1, 64, 8)


def test_reference_and_sdpa_models_agree_and_save_round_trip(tmp_path):
    fast = _model()
    slow = Llama(LlamaConfig(**SMALL, attention_impl="reference")).eval()
    slow.load_state_dict(fast.state_dict())
    x = torch.randint(0, 61, (2, 12))
    torch.testing.assert_close(fast(x), slow(x), atol=1e-4, rtol=1e-4)
    save_model(fast, tmp_path)
    assert torch.equal(load_model(tmp_path)(x), fast(x))


def test_tied_embeddings_and_bad_config():
    model = _model(tie_embeddings=True)
    assert model.lm_head.weight is model.tok_emb.weight
    with pytest.raises(ConfigError, match="n_kv_heads"):
        Llama(LlamaConfig(**{**SMALL, "n_kv_heads": 3}))
    with pytest.raises(ConfigError, match="rope_scaling"):
        Llama(LlamaConfig(**SMALL, rope_scaling={"rope_type": "linear"}))


@pytest.mark.slow
def test_torch_compile_gives_the_same_loss_and_gradients():
    """The hand-written RoPE and the chunked loss have eager-only fast paths; compiled models take the plain ones."""
    from lmforge.objectives.clm import causal_lm_loss

    torch.manual_seed(0)
    model = Llama(LlamaConfig(vocab_size=64, context_length=16, d_model=32, n_layers=1, n_heads=4, n_kv_heads=2,
                              d_mlp=64))
    ids = torch.randint(0, 64, (2, 16))
    eager = causal_lm_loss(model, (ids, ids))
    eager.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    compiled = causal_lm_loss(torch.compile(model), (ids, ids))
    compiled.backward()
    torch.testing.assert_close(compiled, eager)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, expected[name], atol=1e-6, rtol=1e-4, msg=name)
