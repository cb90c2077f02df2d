"""The data side of translation: which pairs, split how, encoded with which vocabularies.

Every translation model (the RNN seq2seq of ``lmforge translate-train`` and the T5-block
Transformer of ``lmforge finetune translate``) reads its pairs through :func:`load_split`,
so they are compared on the same fixed train/dev/test split. A trained model directory
keeps these settings in ``data.json`` so evaluation can rebuild that split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lmforge.data.pairs import Pair, Split, load_pairs, split_pairs, tokenize
from lmforge.data.seq2seq_batches import Example, Vocab
from lmforge.errors import ConfigError
from lmforge.io import read_json

DATA_FILE = "data.json"


@dataclass
class DataConfig:
    path: str
    limit: int | None = None  # use only the first N pairs (quick experiments, tests)
    dev: float = 0.1
    test: float = 0.1
    split_seed: int = 0
    min_freq: int = 2  # words seen fewer times in training become <unk>
    batch_size: int = 64


def load_split(data: DataConfig) -> Split:
    """The fixed train/dev/test split every translation model is compared on."""
    return split_pairs(load_pairs(data.path, data.limit), data.dev, data.test, data.split_seed)


def encode_pairs(pairs: list[Pair], source: Vocab, target: Vocab) -> list[Example]:
    return [(source.encode(tokenize(p.source)), target.encode(tokenize(p.target))) for p in pairs]


def data_config_of(model_dir: str | Path) -> DataConfig:
    """The data settings a translator was trained with (its ``data.json``)."""
    raw = read_json(Path(model_dir) / DATA_FILE, "training data settings (data.json)")
    try:
        return DataConfig(**raw)
    except TypeError as e:
        raise ConfigError(f"{Path(model_dir) / DATA_FILE}: {e}") from None

