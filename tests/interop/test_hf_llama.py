"""Parity with Hugging Face Llama: same weights, same inputs -> same logits, both directions."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmforge.errors import ConfigError  # noqa: E402
from lmforge.interop.hf_llama import export_hf_llama, import_hf_llama  # noqa: E402
from lmforge.models.llama import Llama, LlamaConfig  # noqa: E402

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          "original_max_position_embeddings": 8}


def _perturb(model):
    with torch.no_grad():  # move norms away from 1 so a misplaced gain would show
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.mark.parametrize("n_kv_heads,scaling,tied", [(2, None, False), (1, LLAMA3, True),
                                                      (4, {"rope_type": "linear", "factor": 2.0}, False)])
def test_random_hf_llama_imports_and_exports_with_equal_logits(tmp_path, n_kv_heads, scaling, tied):
    torch.manual_seed(0)
    hf_config = transformers.LlamaConfig(
        vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=n_kv_heads, max_position_embeddings=64, rope_theta=500.0, rope_scaling=scaling,
        tie_word_embeddings=tied, rms_norm_eps=1e-6)
    hf = _perturb(transformers.LlamaForCausalLM(hf_config)).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf_llama(tmp_path / "hf")
    assert ours.config.n_kv_heads == n_kv_heads and ours.config.tie_embeddings == tied
    x = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), hf(x).logits, atol=1e-4, rtol=0)
    export_hf_llama(ours, tmp_path / "back")
    again = transformers.LlamaForCausalLM.from_pretrained(tmp_path / "back").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x).logits, hf(x).logits, atol=1e-4, rtol=0)


def test_lmforge_llama_exports_with_equal_logits(tmp_path):
    torch.manual_seed(1)
    model = _perturb(Llama(LlamaConfig(vocab_size=100, context_length=32, d_model=48, n_layers=2, n_heads=6,
                                       n_kv_heads=3, d_mlp=80, attention_bias=True))).eval()
    export_hf_llama(model, tmp_path, bos_id=1, eos_id=2)
    hf = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    x = torch.randint(0, 100, (3, 20))
    with torch.no_grad():
        torch.testing.assert_close(hf(x).logits, model(x), atol=1e-4, rtol=0)
    torch.testing.assert_close(import_hf_llama(tmp_path)(x), model(x), atol=0, rtol=0)


def test_unsupported_variants_are_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(ConfigError, match="model_type"):
        import_hf_llama(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama", "hidden_act": "gelu"}')
    with pytest.raises(ConfigError, match="SiLU"):
        import_hf_llama(tmp_path)
