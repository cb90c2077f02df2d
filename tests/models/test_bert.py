import pytest
import torch

from lmforge.models.bert import Bert, BertConfig, mean_pool

SMALL = dict(vocab_size=50, context_length=16, d_model=32, n_layers=3, n_heads=4, d_mlp=64, dropout=0.0)


def _model(**overrides):
    torch.manual_seed(0)
    return Bert(BertConfig(**{**SMALL, **overrides})).eval()


def test_heads_have_the_right_shapes():
    model = _model()
    ids = torch.randint(0, 50, (2, 9))
    hidden = model(ids, torch.zeros_like(ids), torch.ones_like(ids))
    assert hidden.shape == (2, 9, 32)
    assert model.mlm_logits(hidden).shape == (2, 9, 50)
    assert model.nsp_logits(model.pool(hidden)).shape == (2, 2)


def test_every_token_sees_the_future_but_not_padding():
    model = _model()
    ids = torch.randint(1, 50, (1, 8))
    changed = ids.clone()
    changed[0, -1] = (ids[0, -1] + 1) % 50
    assert not torch.allclose(model(ids)[0, 0], model(changed)[0, 0])  # bidirectional
    mask = torch.tensor([[1] * 6 + [0] * 2])
    torch.testing.assert_close(model(ids, attention_mask=mask)[0, :6], model(changed, attention_mask=mask)[0, :6])
    emb = model.embed(ids, mask)
    torch.testing.assert_close(emb, model(ids[:, :6]).mean(1), atol=1e-5, rtol=1e-5)
    assert mean_pool(torch.ones(1, 3, 2), torch.tensor([[1, 0, 0]])).tolist() == [[1.0, 1.0]]


def test_albert_options_shrink_the_model():
    bert = _model(vocab_size=1000)
    albert = _model(vocab_size=1000, embedding_dim=8, share_layers=True)
    assert len(albert.blocks) == 1 and albert.tok_emb.weight.shape == (1000, 8)
    assert albert.num_parameters() < bert.num_parameters() / 3
    hidden = albert(torch.randint(0, 1000, (2, 5)))
    assert hidden.shape == (2, 5, 32) and albert.mlm_logits(hidden).shape == (2, 5, 1000)


def test_shared_layers_get_gradients_from_every_use():
    model = _model(share_layers=True)
    model.train()
    model.mlm_logits(model(torch.randint(0, 50, (2, 5)))).sum().backward()
    assert model.blocks[0].attn.qkv.weight.grad.abs().sum() > 0


def test_config_checks():
    with pytest.raises(Exception, match="pooler"):
        Bert(BertConfig(**SMALL, pooler=False))
