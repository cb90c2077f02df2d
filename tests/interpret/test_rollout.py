"""Attention rollout against a hand computation, and on a real encoder's captured maps."""

from __future__ import annotations

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.interpret.rollout import attention_rollout
from lmforge.models.bert import Bert, BertConfig
from lmforge.viz.attention import attention_maps


def test_two_layers_two_tokens_by_hand():
    # layer 1: both heads read token 0 only; layer 2: heads split between tokens
    layer1 = torch.tensor([[[1.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [1.0, 0.0]]])
    layer2 = torch.tensor([[[0.0, 1.0], [0.0, 1.0]], [[1.0, 0.0], [1.0, 0.0]]])
    # A1' = 0.5 I + 0.5 [[1,0],[1,0]] = [[1, 0], [0.5, 0.5]]
    # A2' = 0.5 I + 0.5 [[.5,.5],[.5,.5]] = [[.75, .25], [.25, .75]]
    # R = A2' @ A1' = [[.75 + .125, .125], [.25 + .375, .375]]
    expected = torch.tensor([[0.875, 0.125], [0.625, 0.375]])
    torch.testing.assert_close(attention_rollout(torch.stack([layer1, layer2])), expected)


def test_no_residual_is_the_plain_product_and_rows_stay_distributions():
    torch.manual_seed(0)
    maps = torch.softmax(torch.randn(3, 2, 5, 5), dim=-1)
    means = maps.mean(1)
    torch.testing.assert_close(attention_rollout(maps, residual=0.0), means[2] @ means[1] @ means[0])
    rollout = attention_rollout(maps)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(5))
    assert (rollout >= 0).all()


def test_rollout_of_a_bert_encoders_captured_maps():
    torch.manual_seed(0)
    bert = Bert(BertConfig(vocab_size=30, context_length=16, d_model=16, n_layers=2, n_heads=2, d_mlp=32,
                           dropout=0.0))
    maps = attention_maps(bert, torch.arange(1, 8))  # (2, 2, 7, 7)
    rollout = attention_rollout(maps)
    assert rollout.shape == (7, 7)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(7))


def test_bad_shapes_are_refused():
    with pytest.raises(ConfigError, match="layers, heads"):
        attention_rollout(torch.ones(2, 3, 3))
