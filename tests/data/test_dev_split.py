"""carve_dev_split: a dev split from the end of the training tokens; the validation tokens appear nowhere."""

import numpy as np
import pytest

from lmforge.data.shards import carve_dev_split, load_meta, open_shards
from lmforge.errors import DataError


def test_dev_is_the_end_of_train_and_val_is_untouched(char_data_dir, tmp_path):
    train = np.concatenate(open_shards(char_data_dir, "train"))
    meta = carve_dev_split(char_data_dir, tmp_path / "dev", dev_fraction=0.1)
    dev_train, dev = np.concatenate(open_shards(tmp_path / "dev", "train")), np.concatenate(
        open_shards(tmp_path / "dev", "val"))
    n_dev = int(np.ceil(len(train) * 0.1))
    assert len(dev) == n_dev and np.array_equal(np.concatenate([dev_train, dev]), train)
    assert meta.val.tokens == n_dev and meta.vocab_size == load_meta(char_data_dir).vocab_size
    assert meta.val.bytes == n_dev  # char tokens of ASCII text: one byte each
    assert (tmp_path / "dev" / "tokenizer.json").read_bytes() == (char_data_dir / "tokenizer.json").read_bytes()
    with pytest.raises(DataError, match="dev_fraction"):
        carve_dev_split(char_data_dir, tmp_path / "bad", dev_fraction=1.0)
