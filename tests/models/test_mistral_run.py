"""A tiny Mistral (a Llama with a sliding window shorter than its training windows) lowers its validation
loss on the bundled text."""

import pytest
import torch
from tiny_pretraining import val_loss_before_after

from lmforge.models.llama import Llama, LlamaConfig
from lmforge.objectives.clm import causal_lm_loss


@pytest.mark.slow  # ~12 s of CPU: the window's parity and cache tests run in the default suite
def test_tiny_mistral_run_loss_falls(char_data_dir, tmp_path):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=65, context_length=48, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2,
                         d_mlp=172, sliding_window=8)  # every window of 48 tokens is read 8 at a time
    before, after = val_loss_before_after(Llama(config), char_data_dir, tmp_path, None, causal_lm_loss, 48)
    assert after < 0.75 * before, (before, after)
