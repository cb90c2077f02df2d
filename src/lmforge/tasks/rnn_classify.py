"""Sentence classification with an LSTM/GRU over word embeddings, optionally initialised from GloVe.

    words -> embeddings (B, T, D) -> recurrent stack (B, T, H) -> max over the real positions (B, H) -> logits (B, C)

Max-pooling over time lets the strongest evidence anywhere in the sentence
decide ("... but the food was *awful*"), instead of only what survived in the
state at the last word. Pretrained vectors give words seen rarely (or never) in
the small training set a sensible starting point: with GloVe, a test word the
classifier never saw still lands near the training words that mean the same.

Training runs through the one :class:`~lmforge.train.trainer.Trainer`: the batches
are shuffled epochs of padded sentences and the loss is cross-entropy.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.errors import ConfigError, DataError
from lmforge.io import read_json, write_json
from lmforge.models.base import check_dropout, check_positive
from lmforge.models.blocks.recurrent import CellType, RecurrentStack
from lmforge.models.config import config_from_dict
from lmforge.models.registry import CONFIG_FILE, WEIGHTS_FILE, load_weights
from lmforge.seeding import seed_everything
from lmforge.text.tokenize import word_tokenize
from lmforge.train.trainer import TrainConfig, Trainer

PAD, UNK = "<pad>", "<unk>"
VOCAB_FILE = "vocab.json"


def words_of(text: str) -> list[str]:
    """Lowercased Penn-Treebank-style words: the convention GloVe's vocabulary was built with."""
    return [w.lower() for w in word_tokenize(text)]


class WordVocab:
    """Word <-> id; id 0 pads, id 1 stands for every word not in the vocabulary."""

    def __init__(self, words: Sequence[str]) -> None:
        self.words = [PAD, UNK, *words]
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 1, also: frozenset[str] = frozenset()) -> WordVocab:
        """Training words seen ``min_count`` times, or at least once if in ``also`` (e.g. GloVe's words)."""
        counts = Counter(w for t in texts for w in words_of(t))
        return cls(sorted(w for w, n in counts.items() if n >= min_count or w in also))

    def __len__(self) -> int:
        return len(self.words)

    def encode(self, text: str, max_len: int) -> list[int]:
        ids = [self.index.get(w, 1) for w in words_of(text)][:max_len]
        return ids or [1]  # an empty text is one unknown word, so every row has a real position


@dataclass
class RNNClassifierConfig:
    vocab_size: int
    n_classes: int
    cell: CellType = "lstm"
    d_embed: int = 50
    d_hidden: int = 128
    n_layers: int = 1
    dropout: float = 0.3

    def validate(self) -> None:
        check_positive(self, "vocab_size", "n_classes", "d_embed", "d_hidden", "n_layers")
        check_dropout(self)


class RNNClassifier(nn.Module):
    family = "rnn-classifier"
    config_class = RNNClassifierConfig

    def __init__(self, config: RNNClassifierConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.emb = nn.Embedding(c.vocab_size, c.d_embed, padding_idx=0)
        self.rnn = RecurrentStack(c.cell, c.d_embed, c.d_hidden, c.n_layers, c.dropout)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.d_hidden, c.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Right-padded word ids (B, T), 0 = padding -> class logits (B, C)."""
        # padding comes after the words, so it cannot change the outputs at the real positions
        out, _ = self.rnn(self.drop(self.emb(ids)))  # (B, T, H)
        real = (ids != 0).unsqueeze(-1)  # (B, T, 1)
        pooled = out.masked_fill(~real, -math.inf).amax(dim=1)  # (B, H): the largest value of each feature
        return self.head(self.drop(pooled))


def glove_init(model: RNNClassifier, vocab: WordVocab, vectors: Any) -> int:
    """Copy pretrained vectors (a :class:`~lmforge.embeddings.vectors.WordVectors`) into the embedding
    for every vocabulary word they know; the others keep a random init of the same scale. Returns the count."""
    table = model.emb.weight
    if vectors.dim != table.shape[1]:
        raise ConfigError(f"d_embed={table.shape[1]} but the pretrained vectors have {vectors.dim} dimensions")
    rows = [i for i, w in enumerate(vocab.words) if w in vectors.index]
    with torch.no_grad():
        table.normal_(0.0, float(vectors.vectors.std()))
        table[rows] = vectors.vectors[[vectors.index[vocab.words[i]] for i in rows]]
        table[0] = 0.0  # padding
    return len(rows)


def pad_batch(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    """Right-pad id lists with 0 into (B, longest)."""
    out = torch.zeros(len(rows), max(len(r) for r in rows), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


class EpochBatches:
    """Shuffled epochs of padded (ids, labels) batches, resumable (seeded numpy generator)."""

    def __init__(self, ids: list[list[int]], labels: list[int], batch_size: int, seed: int = 0) -> None:
        self.ids, self.labels, self.batch_size = ids, labels, batch_size
        self.rng = np.random.default_rng(seed)
        self.order: list[int] = []

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self.order) < self.batch_size:
            self.order += self.rng.permutation(len(self.ids)).tolist()
        take, self.order = self.order[: self.batch_size], self.order[self.batch_size :]
        return pad_batch([self.ids[i] for i in take]), torch.tensor([self.labels[i] for i in take])

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "order": list(self.order)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state, self.order = state["rng"], list(state["order"])


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    ids, labels = batch
    return F.cross_entropy(model(ids), labels)


@dataclass
class TrainedClassifier:
    model: RNNClassifier
    vocab: WordVocab
    classes: list[str]
    max_len: int = 64

    @torch.no_grad()
    def predict(self, texts: Sequence[str], batch_size: int = 256) -> list[str]:
        self.model.eval()
        out = []
        for start in range(0, len(texts), batch_size):
            ids = pad_batch([self.vocab.encode(t, self.max_len) for t in texts[start : start + batch_size]])
            out += [self.classes[i] for i in self.model(ids).argmax(dim=-1).tolist()]
        return out

    def accuracy(self, texts: Sequence[str], labels: Sequence[str]) -> float:
        return float(np.mean([p == y for p, y in zip(self.predict(texts), labels, strict=True)]))

    def save(self, out_dir: str | Path) -> None:
        """Next to the Trainer's ``config.json`` + ``model.safetensors``: the words and class names."""
        write_json(Path(out_dir) / VOCAB_FILE, {"words": self.vocab.words[2:], "classes": self.classes,
                                                "max_len": self.max_len})

    @classmethod
    def load(cls, model_dir: str | Path) -> TrainedClassifier:
        model_dir = Path(model_dir)
        for name in (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE):
            if not (model_dir / name).is_file():
                raise ConfigError(f"{model_dir} is not an RNN classifier directory: {name} is missing")
        config = config_from_dict(RNNClassifierConfig, read_json(model_dir / CONFIG_FILE, "classifier config"),
                                  str(model_dir / CONFIG_FILE))
        model = RNNClassifier(config)
        load_weights(model, model_dir / WEIGHTS_FILE)
        meta = read_json(model_dir / VOCAB_FILE, "classifier vocabulary")
        return cls(model.eval(), WordVocab(meta["words"]), meta["classes"], meta["max_len"])


def train_rnn_classifier(
    texts: Sequence[str],
    labels: Sequence[str],
    out_dir: str | Path,
    cell: CellType = "lstm",
    vectors: Any | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 3e-3,
    max_len: int = 64,
    seed: int = 0,
    console: Console | None = None,
    **model_fields: Any,
) -> TrainedClassifier:
    """Train on (text, label) pairs; ``vectors`` (e.g. ``load_glove_6b_50d()``) initialises the embeddings."""
    if len(texts) != len(labels) or not texts:
        raise DataError(f"need as many labels as texts, and at least one (got {len(texts)} and {len(labels)})")
    classes = sorted(set(labels))
    vocab = WordVocab.build(texts, min_count=2, also=frozenset(vectors.index) if vectors is not None else frozenset())
    seed_everything(seed)  # before the embeddings and cells are initialised
    d_embed = model_fields.pop("d_embed", 50)
    d_embed = vectors.dim if vectors is not None else d_embed
    model = RNNClassifier(RNNClassifierConfig(len(vocab), len(classes), cell, d_embed, **model_fields))
    if vectors is not None:
        glove_init(model, vocab, vectors)
    ids = [vocab.encode(t, max_len) for t in texts]
    targets = [classes.index(y) for y in labels]
    steps = max(1, epochs * math.ceil(len(ids) / batch_size))
    config = TrainConfig(max_steps=steps, lr=lr, min_lr=lr / 10, warmup_steps=max(1, steps // 20), weight_decay=0.01,
                         eval_interval=steps + 1, checkpoint_interval=steps + 1, log_interval=max(1, steps // 20),
                         precision="fp32", seed=seed)
    trainer = Trainer(model, config, EpochBatches(ids, targets, batch_size, seed), out_dir,
                      loss_fn=classification_loss, console=console)
    trainer.fit()
    trained = TrainedClassifier(model.eval(), vocab, classes, max_len)
    trained.save(out_dir)
    return trained
