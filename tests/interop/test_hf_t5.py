"""Parity with Hugging Face T5 (v1.0 tied/ReLU and v1.1 untied/gated-GELU), both directions."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmforge.infer.seq2seq import greedy_decode  # noqa: E402
from lmforge.interop.hf_t5 import export_hf_t5, import_hf_t5  # noqa: E402
from lmforge.models.t5 import T5, T5Config  # noqa: E402


def _inputs():
    g = torch.Generator().manual_seed(2)
    ids, dec = torch.randint(2, 150, (2, 30), generator=g), torch.randint(2, 150, (2, 12), generator=g)
    mask = torch.ones(2, 30, dtype=torch.long)
    mask[1, 21:] = 0
    return ids, dec, mask


def _perturb(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def _check(ours, hf):
    ids, dec, mask = _inputs()
    with torch.no_grad():
        expected = hf(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits
        torch.testing.assert_close(ours(ids, dec, mask), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("proj,tied", [("relu", True), ("gated-gelu", False)])
def test_random_hf_t5_imports_and_exports(tmp_path, proj, tied):
    torch.manual_seed(0)
    config = transformers.T5Config(vocab_size=150, d_model=32, d_kv=12, d_ff=40, num_layers=2, num_decoder_layers=3,
                                   num_heads=3, relative_attention_num_buckets=8, relative_attention_max_distance=20,
                                   feed_forward_proj=proj, tie_word_embeddings=tied, decoder_start_token_id=0)
    hf = _perturb(transformers.T5ForConditionalGeneration(config)).eval()
    hf.save_pretrained(tmp_path / "hf")
    ours = import_hf_t5(tmp_path / "hf")
    _check(ours, hf)
    export_hf_t5(ours, tmp_path / "back")
    _check(ours, transformers.T5ForConditionalGeneration.from_pretrained(tmp_path / "back").eval())


def test_lmforge_t5_exports_and_greedy_decoding_matches(tmp_path):
    torch.manual_seed(1)
    model = _perturb(T5(T5Config(vocab_size=150, d_model=32, d_head=8, d_mlp=48, n_layers=2, n_heads=4,
                                 relative_buckets=8, relative_max_distance=16, dropout=0.0))).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0)  # larger weights, so greedy output varies
    export_hf_t5(model, tmp_path)
    hf = transformers.T5ForConditionalGeneration.from_pretrained(tmp_path).eval()
    _check(model, hf)
    ids = _inputs()[0]
    ours = [h.tokens for h in greedy_decode(model, ids, None, eos_id=None, max_len=10)]
    theirs = hf.generate(ids, max_new_tokens=10, do_sample=False, eos_token_id=None, min_new_tokens=10)
    assert ours == theirs[:, 1:].tolist()
