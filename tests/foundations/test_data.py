"""The digits split and the resumable in-memory batch source."""

from __future__ import annotations

import pytest
import torch

from lmforge.errors import DataError
from lmforge.foundations.data import TensorBatches


def test_digits_split_is_stratified_and_scaled(digit_split):
    d = digit_split
    assert d.x_train.shape[1:] == d.x_test.shape[1:] == (8, 8) and d.x_train.dtype == torch.float32
    assert len(d.x_train) + len(d.x_test) == 1797 and len(d.x_test) == 359
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) == 1.0
    assert torch.bincount(d.y_test).min() >= 35  # every digit held out in its share (~36 each)


def test_batches_cover_an_epoch_then_resume_exactly():
    x, y = torch.arange(10.0), torch.arange(10) * 2
    batches = TensorBatches(x, y, batch_size=4, seed=0)
    first, second = batches.next_batch(), batches.next_batch()
    assert torch.equal(first[1], first[0].long() * 2)  # rows stay aligned across tensors
    assert len(set(first[0].tolist()) | set(second[0].tolist())) == 8  # no row twice within an epoch
    state = batches.state_dict()
    expected = [batches.next_batch()[0] for _ in range(3)]
    batches.load_state_dict(state)
    assert all(torch.equal(batches.next_batch()[0], e) for e in expected)


def test_batches_are_checked():
    with pytest.raises(DataError, match="same number of rows"):
        TensorBatches(torch.zeros(3), torch.zeros(4), batch_size=2)
    with pytest.raises(DataError, match="batch_size"):
        TensorBatches(torch.zeros(3), batch_size=5)
