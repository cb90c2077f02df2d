"""DeBERTa: the relative-position buckets, what the disentangled terms change, and a tiny MLM run whose
validation loss falls. (Parity with HF DebertaV2ForMaskedLM: tests/interop/test_hf_deberta.py.)"""

import pytest
import torch
from tiny_pretraining import val_loss_before_after

from lmforge.data.shards import load_meta
from lmforge.models.blocks.disentangled import RelativeEmbeddings, log_buckets
from lmforge.models.deberta import Deberta, DebertaConfig
from lmforge.objectives.masking import SpecialIds, mlm_mask
from lmforge.objectives.mlm import masked_lm_only_loss


def test_log_buckets_are_exact_near_then_logarithmic_and_odd():
    distance = torch.arange(-300, 301)
    bucket = log_buckets(distance, n_buckets=16, max_position=256)
    near = distance.abs() <= 8
    assert torch.equal(bucket[near], distance[near])  # every near distance has its own bucket
    assert torch.equal(bucket, -bucket.flip(0))  # i - j and j - i: mirrored buckets
    assert (bucket.diff() >= 0).all() and bucket.abs().max() <= 16  # monotone, and far distances share
    assert len(bucket[distance > 8].unique()) < 10


def test_index_clamps_into_the_table():
    table = RelativeEmbeddings(8, n_buckets=0, max_relative=4, norm_eps=None)
    index = table.index(10)  # (query, key)
    assert index.shape == (10, 10) and index.min() == 0 and index.max() == 2 * 4 - 1
    assert index[5, 5] == 4 and index[5, 4] == 5 and index[0, 9] == 0  # i - j + span, clamped


def test_relative_positions_are_what_tells_order():
    """Without relative attention (and no absolute positions) attention is a set operation: permuting the
    tokens permutes the outputs. The c2p / p2c terms alone break that symmetry."""
    small = dict(vocab_size=20, context_length=16, d_model=32, n_layers=2, n_heads=4, d_mlp=64, position_buckets=4,
                 dropout=0.0)
    ids, order = torch.randint(0, 20, (1, 12)), torch.randperm(12)
    for relative in (False, True):
        torch.manual_seed(0)
        model = Deberta(DebertaConfig(**small, relative_attention=relative)).eval()
        with torch.no_grad():
            equivariant = torch.allclose(model(ids)[:, order], model(ids[:, order]), atol=1e-5)
        assert equivariant == (not relative)


@pytest.mark.slow  # a tiny run whose loss falls; the parity and property tests stay in the default suite
def test_tiny_mlm_pretraining_lowers_the_validation_loss(char_data_dir, tmp_path):
    special = SpecialIds(load_meta(char_data_dir).vocab_size)
    torch.manual_seed(0)
    model = Deberta(DebertaConfig(vocab_size=special.vocab_size, context_length=32, d_model=48, n_layers=2,
                                  n_heads=4, d_mlp=96, position_buckets=16, dropout=0.0))

    def corrupt(windows, generator):
        return mlm_mask(windows, special.mask, special.text_vocab, generator)

    before, after = val_loss_before_after(model, char_data_dir, tmp_path, corrupt, masked_lm_only_loss, 32)
    assert after < 0.85 * before, (before, after)  # 4.25 -> 3.27 nats (seed 0)
