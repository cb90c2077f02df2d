"""Shared, session-scoped tokenizers so the expensive setup happens once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmforge.assets import tinyshakespeare_path
from lmforge.tokenizers import ByteLevelBPE

GPT2_DIR = Path(__file__).resolve().parents[1] / "data" / "gpt2_tokenizer"


@pytest.fixture(scope="session")
def corpus() -> str:
    return tinyshakespeare_path().read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def corpus_lines(corpus: str) -> list[str]:
    return corpus.splitlines(keepends=True)


@pytest.fixture(scope="session")
def trained_bpe(corpus: str) -> ByteLevelBPE:
    """A 512-id BPE trained by lmforge on the whole corpus (about a second)."""
    return ByteLevelBPE.train(corpus, vocab_size=512)


@pytest.fixture(scope="session")
def gpt2() -> ByteLevelBPE:
    return ByteLevelBPE.from_gpt2_files(GPT2_DIR / "encoder.json", GPT2_DIR / "vocab.bpe")


@pytest.fixture(scope="session")
def hf_gpt2():
    """HF reference built with `tokenizers` directly.

    Not transformers' GPT2TokenizerFast(vocab_file=..., merges_file=...): in
    transformers 5.x that silently encodes everything to [].
    """
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(
        tokenizers.models.BPE.from_file(str(GPT2_DIR / "encoder.json"), str(GPT2_DIR / "vocab.bpe"))
    )
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    return tok
