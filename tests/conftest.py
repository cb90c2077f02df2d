"""Shared fixtures: small, seeded, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lmforge.assets import tinyshakespeare_path

FIXTURES = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def shakespeare_text() -> str:
    return tinyshakespeare_path().read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def char_data_dir(tmp_path_factory, shakespeare_text) -> Path:
    """The first 200k characters of tinyshakespeare, char-tokenized into shards."""
    from lmforge.data.shards import prepare
    from lmforge.tokenizers import train_tokenizer

    root = tmp_path_factory.mktemp("char_data")
    corpus = root / "corpus.txt"
    corpus.write_text(shakespeare_text[:200_000], encoding="utf-8")
    tokenizer = train_tokenizer("char", shakespeare_text)
    tokenizer.save(root / "tokenizer.json")
    prepare([corpus], tokenizer, root / "tokenizer.json", root / "data")
    return root / "data"
