"""word2vec files as published: text or binary (gensim's writer and word2vec.c's), read identically
to gensim; damaged files are one line naming the line or byte offset."""

import numpy as np
import pytest
from gensim.models import KeyedVectors

from lmforge.cli.main import run
from lmforge.embeddings.vectors import load_word2vec
from lmforge.errors import DataError

WORDS = ["the", "été", "naïve", "king", "queen"]


@pytest.fixture
def reference() -> KeyedVectors:
    kv = KeyedVectors(vector_size=6)
    kv.add_vectors(WORDS, np.random.default_rng(0).standard_normal((len(WORDS), 6)).astype(np.float32))
    return kv


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "text"])
def test_reads_what_gensim_writes(reference, tmp_path, binary):
    path = tmp_path / "vectors.bin"
    reference.save_word2vec_format(str(path), binary=binary)
    vectors = load_word2vec(path)
    assert vectors.words == WORDS
    np.testing.assert_allclose(vectors.vectors.numpy(), reference.vectors, rtol=1e-6)


def word2vec_c_file(path, reference, records=None) -> None:
    """The original word2vec.c layout: a newline after each vector (gensim writes none)."""
    with path.open("wb") as f:
        f.write(f"{len(reference)} {reference.vector_size}\n".encode())
        for word, row in list(zip(WORDS, reference.vectors, strict=True))[:records]:
            f.write(word.encode() + b" " + row.astype("<f4").tobytes() + b"\n")


def test_reads_word2vec_c_binary_and_serves_it_to_the_cli(reference, tmp_path, capsys):
    path = tmp_path / "vectors.bin"
    word2vec_c_file(path, reference)
    assert np.array_equal(load_word2vec(path).vectors.numpy(), reference.vectors)
    assert run(["embeddings", "neighbors", "king", "--vectors", str(path), "--topn", "2"]) == 0
    expected = ", ".join(f"{word} {score:.3f}" for word, score in reference.most_similar("king", topn=2))
    assert capsys.readouterr().out.strip() == f"king: {expected}"


def test_damaged_files_are_one_line(reference, tmp_path):
    truncated = tmp_path / "truncated.bin"
    word2vec_c_file(truncated, reference, records=3)
    with pytest.raises(DataError, match=r"binary word2vec file \(5 words of 6 float32 announced\): "
                                         r"the file ends after 3 words"):
        load_word2vec(truncated)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"2 1\nthe 0.5\nt\xe9 0.25\n")
    with pytest.raises(DataError, match=r"latin1.txt: line 3, column 2: not valid UTF-8"):
        load_word2vec(latin1)
    not_vectors = tmp_path / "weights.safetensors"
    not_vectors.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(DataError, match=r"line 1: expected the word2vec header 'VOCAB_SIZE DIM'"):
        load_word2vec(not_vectors)
