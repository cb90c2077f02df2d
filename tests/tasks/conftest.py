"""Tiny backbones (random weights, real tokenizers) so task plumbing is tested in seconds."""

from __future__ import annotations

import pytest

from lmforge.models.bert import Bert, BertConfig
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.tasks.backbone import minilm_dir
from lmforge.tokenizers import load_tokenizer


@pytest.fixture(scope="session")
def wordpiece():
    """MiniLM's own WordPiece tokenizer (uncased BERT vocabulary)."""
    return load_tokenizer(minilm_dir() / "tokenizer.json")


@pytest.fixture
def tiny_bert(wordpiece):
    return Bert(BertConfig(vocab_size=wordpiece.vocab_size, context_length=128, d_model=32, n_layers=2, n_heads=2,
                           d_mlp=64, dropout=0.0, pretraining_heads=False))


@pytest.fixture
def tiny_gpt():
    return GPT(GPTConfig(vocab_size=300, context_length=64, d_model=32, n_layers=2, n_heads=2))
