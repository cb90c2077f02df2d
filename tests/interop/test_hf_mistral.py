"""Mistral = Llama + sliding-window attention: logits equal to HF MistralForCausalLM with a window shorter than
the sequence (both directions), a generation cache that keeps only the window yet gives the same logits as the
full forward pass, and malformed windows refused naming the field."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert_parity import load_strict, perturb  # noqa: E402

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.infer.batch import BatchEngine  # noqa: E402
from lmforge.infer.engine import GenerationEngine  # noqa: E402
from lmforge.infer.sampling import SamplingConfig  # noqa: E402
from lmforge.interop.convert import export_hf, import_hf  # noqa: E402
from lmforge.models.blocks.sliding_window import SlidingWindowCache  # noqa: E402
from lmforge.models.llama import Llama, LlamaConfig  # noqa: E402

WINDOW, T = 4, 13
HF = dict(vocab_size=100, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
          num_key_value_heads=2, max_position_embeddings=64, sliding_window=WINDOW, rms_norm_eps=1e-5)


def _ids():
    return torch.randint(0, 100, (2, T), generator=torch.Generator().manual_seed(0))


def test_hf_mistral_with_a_window_shorter_than_the_sequence_imports_and_exports(tmp_path):
    torch.manual_seed(0)
    hf = perturb(transformers.MistralForCausalLM(transformers.MistralConfig(**HF)), 0.2).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf(tmp_path / "hf")
    assert isinstance(ours, Llama) and ours.config.sliding_window == WINDOW
    ids = _ids()
    with torch.no_grad():
        expected = hf(ids).logits
        torch.testing.assert_close(ours(ids), expected, atol=1e-4, rtol=0)
        full = Llama(LlamaConfig(**{**vars(ours.config), "sliding_window": None})).eval()
        full.load_state_dict(ours.state_dict())
        assert (full(ids) - expected)[:, WINDOW:].abs().max() > 1e-2  # the window matters past position W
        torch.testing.assert_close(full(ids)[:, :WINDOW], expected[:, :WINDOW], atol=1e-4, rtol=0)
        assert export_hf(ours, tmp_path / "back") == "MistralForCausalLM"
        torch.testing.assert_close(load_strict(transformers.MistralForCausalLM, tmp_path / "back")(ids).logits,
                                   expected, atol=1e-4, rtol=0)
        reference = Llama(LlamaConfig(**{**vars(ours.config), "attention_impl": "reference"})).eval()
        reference.load_state_dict(ours.state_dict())
        torch.testing.assert_close(reference(ids), expected, atol=1e-4, rtol=0)


def _model():
    torch.manual_seed(1)
    config = LlamaConfig(vocab_size=100, context_length=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                         d_mlp=48, sliding_window=WINDOW)
    return perturb(Llama(config), 0.2).eval()


def test_the_cache_keeps_only_the_window_and_gives_the_full_forward_logits():
    model = _model()
    ids = torch.randint(0, 100, (2, 24), generator=torch.Generator().manual_seed(2))
    cache = model.new_cache(2)
    assert isinstance(cache, SlidingWindowCache)
    sizes = []
    with torch.no_grad():
        expected = model(ids)
        steps = [model(ids[:, :6], cache)]  # a prompt longer than the window, then one token at a time
        for t in range(6, 24):
            steps.append(model(ids[:, t:t + 1], cache))
            sizes.append(cache.nbytes)
            assert all(k.shape[2] == WINDOW - 1 for k in cache.keys)
    torch.testing.assert_close(torch.cat(steps, dim=1), expected, atol=1e-5, rtol=0)
    assert cache.length == 24 and len(set(sizes)) == 1  # memory flat while the text grows
    engine = GenerationEngine(model)
    cached = engine.generate([5, 6, 7], SamplingConfig(max_new_tokens=20, temperature=0))
    assert cached == engine.generate([5, 6, 7], SamplingConfig(max_new_tokens=20, temperature=0, use_cache=False))


def test_batched_serving_applies_the_window_per_row():
    """Rows of different lengths in one forward pass (SlotKVCache): each row's window counts from its own end."""
    model = _model()
    prompts = [[1, 2, 3, 4, 5, 6, 7], [9], [30, 31, 2, 2, 40, 11, 12, 13, 14, 15, 16], [49, 8]]
    greedy = SamplingConfig(max_new_tokens=12, temperature=0)
    alone = [GenerationEngine(model).generate(p, greedy) for p in prompts]
    assert BatchEngine(model, max_batch=3).generate_many(prompts, greedy) == alone
    assert len({t for out in alone for t in out}) > 5  # the comparison is not trivial


def test_bad_windows_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="sliding_window must be positive"):
        Llama(LlamaConfig(vocab_size=10, d_model=16, n_layers=1, n_heads=2, n_kv_heads=2, d_mlp=8, sliding_window=0))
    transformers.MistralForCausalLM(transformers.MistralConfig(**HF)).save_pretrained(tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**doc, "sliding_window": "4"}))
    with pytest.raises(ConfigError, match="sliding_window must be a positive integer or null"):
        import_hf(tmp_path)
    model = _model()
    model.config.attention_bias = True
    with pytest.raises(ConfigError, match="MistralForCausalLM has no attention biases"):
        export_hf(model, tmp_path / "out")
