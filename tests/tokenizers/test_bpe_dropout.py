"""BPE dropout: p=0 encodes exactly as plain BPE; p>0 splits the same text differently from call to call (more,
shorter pieces), always decodes back to the text, repeats under a seed, and never reaches the saved file."""

from __future__ import annotations

import json

import pytest

from lmforge.assets import tinyshakespeare_path
from lmforge.errors import ConfigError
from lmforge.tokenizers import ByteLevelBPE, load_tokenizer


@pytest.fixture(scope="module")
def text() -> str:
    return tinyshakespeare_path().read_text(encoding="utf-8")[:200_000]


def test_dropout_zero_is_plain_bpe_and_dropout_varies_but_decodes_the_same(text, tmp_path):
    plain = ByteLevelBPE.train(text, 600)
    sample = text[:20_000]
    expected = plain.encode(sample)
    assert ByteLevelBPE.train(text, 600, dropout=0.0).encode(sample) == expected
    dropped = ByteLevelBPE.train(text, 600, dropout=0.1)
    assert dropped.merges == plain.merges  # training itself is unchanged; only encoding samples
    first, second = dropped.encode(sample), dropped.encode(sample)
    assert first != second and first != expected
    assert dropped.decode(first) == dropped.decode(second) == sample
    assert 1.05 * len(expected) < len(first) < 2 * len(expected)  # skipped merges: more, shorter tokens
    nearly_bytes = ByteLevelBPE.train(text, 600, dropout=0.95).encode(sample)
    assert len(nearly_bytes) > 0.8 * len(sample.encode("utf-8"))
    dropped.set_dropout(0.0)
    assert dropped.encode(sample) == expected  # back to deterministic BPE, e.g. for inference
    dropped.set_dropout(0.1, seed=5)
    plain.set_dropout(0.1, seed=5)
    assert dropped.encode(sample) == plain.encode(sample)  # a seed makes the draws repeatable
    dropped.save(tmp_path / "tokenizer.json")
    assert json.loads((tmp_path / "tokenizer.json").read_text())["model"]["dropout"] is None
    assert load_tokenizer(tmp_path / "tokenizer.json").encode(sample) == expected
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        plain.set_dropout(1.0)
