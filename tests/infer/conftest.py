import pytest
import torch

from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import save_model
from lmforge.tokenizers import train_tokenizer


@pytest.fixture()
def tiny_model_dir(tmp_path):
    """A saved one-layer char GPT with its tokenizer: what sample, chat and serve open."""
    torch.manual_seed(0)
    tokenizer = train_tokenizer("char", "abcdefgh ijk", special_tokens=("<|endoftext|>",))
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=32, d_model=32, n_layers=1, n_heads=4))
    save_model(model, tmp_path / "model")
    tokenizer.save(tmp_path / "model" / "tokenizer.json")
    return tmp_path / "model"
