"""Open word vectors from any of the places lmforge knows: one entry point for the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from lmforge.embeddings.corpus import Vocab
from lmforge.embeddings.fasttext import FastText, FastTextConfig, FastTextVectors
from lmforge.embeddings.pretrained import PRETRAINED
from lmforge.embeddings.vectors import VOCAB_FILE, WordVectors, load_vector_folder, load_word2vec
from lmforge.errors import DataError
from lmforge.io import read_json
from lmforge.models.config import config_from_dict
from lmforge.models.registry import CONFIG_FILE, WEIGHTS_FILE, load_weights


def load_fasttext(directory: str | os.PathLike[str]) -> FastTextVectors:
    """A trained FastText folder, with its n-gram tables (so unseen words get vectors too)."""
    directory = Path(directory)
    config = config_from_dict(FastTextConfig, read_json(directory / CONFIG_FILE, "model config"),
                              str(directory / CONFIG_FILE))
    model = FastText(config)
    load_weights(model, directory / WEIGHTS_FILE)
    vocab = Vocab.from_json(read_json(directory / VOCAB_FILE, "vocabulary"), str(directory / VOCAB_FILE))
    return FastTextVectors(vocab.words, model, vocab.counts)


def load_vectors(source: str | os.PathLike[str]) -> WordVectors:
    """``source`` is a pretrained name (e.g. ``glove-6b-50d``), a folder written by
    ``lmforge embeddings train`` (or :meth:`WordVectors.save`), or a word2vec file (text or binary)."""
    if str(source) in PRETRAINED:
        return PRETRAINED[str(source)]()
    path = Path(source)
    if path.is_dir():
        config_path = path / CONFIG_FILE
        if config_path.is_file() and read_json(config_path, "model config").get("family") == FastText.family:
            return load_fasttext(path)
        return load_vector_folder(path)
    if path.is_file():
        return load_word2vec(path)
    raise DataError(f"{source}: not found; give a vectors folder, a word2vec file (.txt or .bin), "
                    f"or a pretrained name ({', '.join(PRETRAINED)})")
