import json

import numpy as np
import pytest

from lmforge.data.sampler import EpochWindowSampler, RandomWindowSampler, window_sampler
from lmforge.data.shards import load_meta, open_shards, prepare
from lmforge.errors import ConfigError, DataError
from lmforge.tokenizers import train_tokenizer


@pytest.fixture()
def char_tok(tmp_path):
    tok = train_tokenizer("char", "abcdefgh \n")
    tok.save(tmp_path / "tok.json")
    return tok, tmp_path / "tok.json"


def test_prepare_writes_shards_meta_and_tokenizer(tmp_path, char_tok):
    tok, tok_path = char_tok
    (tmp_path / "a.txt").write_text("abc def\n" * 50)
    (tmp_path / "b.txt").write_text("hgf edc\n" * 50)
    meta = prepare([tmp_path / "a.txt", tmp_path / "b.txt"], tok, tok_path, tmp_path / "out", val_fraction=0.2,
                   shard_tokens=300)
    assert meta.dtype == "uint16"
    assert meta.train.tokens + meta.val.tokens == 802  # 800 chars + one end-of-text per document
    assert len(meta.train.files) == 3  # 641 train tokens in shards of at most 300
    train = np.concatenate(open_shards(tmp_path / "out", "train"))
    val = np.concatenate(open_shards(tmp_path / "out", "val"))
    assert tok.decode(np.concatenate([train, val]).tolist()) == ("abc def\n" * 50 + "<|endoftext|>"
                                                                   + "hgf edc\n" * 50 + "<|endoftext|>")
    assert (tmp_path / "out" / "tokenizer.json").is_file()
    assert load_meta(tmp_path / "out").val.bytes == len(tok.decode(val.tolist()).encode())


def test_large_vocab_uses_uint32(tmp_path):
    from lmforge.data.shards import token_dtype

    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32


@pytest.mark.parametrize(
    "content,message",
    [(b"", "empty"), (b"   \n", "empty"), (b"abc\n\xff\xfeabc", "byte offset 4 \\(line 2\\)")],
)
def test_bad_input_files(tmp_path, char_tok, content, message):
    tok, tok_path = char_tok
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(DataError, match=message):
        prepare([tmp_path / "bad.txt"], tok, tok_path, tmp_path / "out")
    assert not (tmp_path / "out" / "meta.json").exists()  # nothing half-written looks complete


def test_missing_file_and_missing_meta(tmp_path, char_tok):
    tok, tok_path = char_tok
    with pytest.raises(DataError, match="not found"):
        prepare([tmp_path / "nope.txt"], tok, tok_path, tmp_path / "out")
    with pytest.raises(DataError, match="lmforge prepare"):
        load_meta(tmp_path)
    (tmp_path / "meta.json").write_text("{bad json")
    with pytest.raises(DataError, match="line 1, column 2"):
        load_meta(tmp_path)


def test_sampler_windows_are_shifted_targets_and_resumable():
    data = np.arange(1000, dtype=np.uint16)
    sampler = RandomWindowSampler([data], block_size=8, batch_size=4, seed=1)
    x, y = sampler.next_batch()
    assert x.shape == (4, 8) and torch_equal(y[:, :-1], x[:, 1:]) and torch_equal(y - x, 1)
    state = json.loads(json.dumps(sampler.state_dict()))  # plain data, survives serialisation
    expected = [sampler.next_batch()[0] for _ in range(3)]
    resumed = RandomWindowSampler([data], block_size=8, batch_size=4, seed=999)
    resumed.load_state_dict(state)
    assert all(torch_equal(a, resumed.next_batch()[0]) for a in expected)


def test_sampler_needs_enough_tokens():
    with pytest.raises(DataError, match="longer than block_size"):
        RandomWindowSampler([np.arange(5)], block_size=8, batch_size=2)


def test_epoch_order_makes_every_token_a_target_once_per_epoch_and_resumes():
    shards = [np.arange(0, 403, dtype=np.uint16), np.arange(1000, 1261, dtype=np.uint16)]
    sampler = EpochWindowSampler(shards, block_size=8, batch_size=4, seed=3)
    n_windows = len(sampler._starts)
    targets = []
    for _ in range(n_windows // 4):
        x, y = sampler.next_batch()
        assert torch_equal(y[:, :-1], x[:, 1:]) and torch_equal(y - x, 1)  # windows never straddle two shards
        targets += y.flatten().tolist()
    assert sampler.epoch == 0 and len(targets) == len(set(targets))  # no target twice within the epoch
    assert len(targets) / (403 + 261) > 0.9  # all but each shard's phase and tail and the dropped partial batch
    first_of_next = sampler.next_batch()[0]
    assert sampler.epoch == 1 and sampler.position == 4
    state = json.loads(json.dumps(sampler.state_dict()))
    expected = [sampler.next_batch()[0] for _ in range(n_windows // 4 + 2)]  # across the next epoch boundary
    resumed = EpochWindowSampler(shards, block_size=8, batch_size=4, seed=3)
    resumed.load_state_dict(state)
    assert all(torch_equal(a, resumed.next_batch()[0]) for a in expected)
    again = EpochWindowSampler(shards, block_size=8, batch_size=4, seed=3)
    again.load_state_dict({"epoch": 1, "position": 0})
    assert torch_equal(again.next_batch()[0], first_of_next)  # an epoch's order depends on (seed, epoch) only


def test_epoch_order_splits_the_global_batch_over_ranks_and_refuses_bad_input():
    data = [np.arange(2000, dtype=np.uint16)]
    whole = EpochWindowSampler(data, block_size=8, batch_size=4, seed=2).next_batch()[0]
    halves = [EpochWindowSampler(data, 8, 4, seed=2, rank=r, world_size=2).next_batch()[0] for r in (0, 1)]
    assert torch_equal(whole, np.concatenate([h.numpy() for h in halves]))
    with pytest.raises(DataError, match="fewer than one batch"):
        EpochWindowSampler([np.arange(30)], block_size=8, batch_size=8)
    with pytest.raises(ConfigError, match="data_order must be one of random, epochs"):
        window_sampler("sorted", data, 8, 4)


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.all(torch.as_tensor(a) == torch.as_tensor(b)))
