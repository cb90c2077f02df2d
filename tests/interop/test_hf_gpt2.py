"""Parity with Hugging Face GPT-2: same weights, same inputs -> same logits."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.hf_gpt2 import export_hf_gpt2, gpt2_name_map, import_hf_gpt2  # noqa: E402
from lmforge.models.gpt import GPT, GPTConfig  # noqa: E402

CONFIG = dict(vocab_size=257, context_length=32, d_model=48, n_layers=3, n_heads=4)


def _inputs():
    return torch.randint(0, CONFIG["vocab_size"], (3, 20), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("tied", [True, False])
def test_export_loads_in_transformers_with_equal_logits(tmp_path, tied):
    model = GPT(GPTConfig(**CONFIG, tie_embeddings=tied)).eval()
    export_hf_gpt2(model, tmp_path, eos_id=0)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf(_inputs()).logits, model(_inputs()), atol=1e-4, rtol=0)
    back = import_hf_gpt2(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(back(_inputs()), model(_inputs()), atol=0, rtol=0)


def test_random_hf_model_imports_with_equal_logits(tmp_path):
    hf_config = transformers.GPT2Config(vocab_size=300, n_positions=40, n_embd=64, n_layer=2, n_head=8,
                                        n_inner=100, layer_norm_epsilon=1e-6)
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    with torch.no_grad():  # move the LayerNorms away from 1/0 so a swapped gain/bias would show
        for name, p in hf.named_parameters():
            if "ln" in name:
                p.add_(torch.randn_like(p) * 0.1)
    hf.save_pretrained(tmp_path)
    ours = import_hf_gpt2(tmp_path)
    assert ours.config.mlp_width == 100 and ours.config.layer_norm_eps == 1e-6
    x = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hf(x).logits, atol=1e-4, rtol=0)


def test_name_map_covers_every_tensor_once():
    model = GPT(GPTConfig(**CONFIG))
    ours = [o for o, _, _ in gpt2_name_map(CONFIG["n_layers"])]
    assert sorted(ours) == sorted(k for k in model.state_dict() if k != "lm_head.weight")


def test_bias_free_model_cannot_be_exported(tmp_path):
    with pytest.raises(ConfigError, match="biases"):
        export_hf_gpt2(GPT(GPTConfig(**CONFIG, bias=False)), tmp_path)


def test_import_refuses_pickles_and_other_families(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ConfigError, match="expected 'gpt2'"):
        import_hf_gpt2(tmp_path)
    export_hf_gpt2(GPT(GPTConfig(**CONFIG)), tmp_path)
    (tmp_path / "model.safetensors").rename(tmp_path / "pytorch_model.bin")
    with pytest.raises(ConfigError, match="never pickles"):
        import_hf_gpt2(tmp_path)


def test_alibi_gpt_cannot_be_exported(tmp_path):
    with pytest.raises(ConfigError, match="learned positions"):
        export_hf_gpt2(GPT(GPTConfig(**CONFIG, position="alibi")), tmp_path)
