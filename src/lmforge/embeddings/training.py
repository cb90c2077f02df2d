"""Train word2vec (skip-gram / CBOW), GloVe or FastText.

Each method contributes a model whose ``forward(*batch)`` returns the loss *summed*
over the batch, and an :class:`~lmforge.embeddings.batches.EpochBatches` source.
The loop below is the one these shallow models were designed for, not the LM
:class:`~lmforge.train.trainer.Trainer`: its dense AdamW updates every row of every
table at every step (O(V·D) work even though a batch touches a few hundred words),
and on SGNS it pushed all vectors into one shared direction (cosine ~0.99 between
unrelated words). So, as in the original papers and gensim:

- word2vec / FastText: plain SGD on the sparse rows a batch touches, learning rate
  decaying linearly from ``lr`` to ``lr * 1e-4`` over the run (word2vec.c's schedule);
- GloVe: AdaGrad (lr 0.05, squared-gradient sums starting at 1, as glove.c).

Output folder::

    run.json               these settings
    config.json            model family + config; model.safetensors: all trained tables
    vocab.json             words (frequency order) and their corpus counts
    vectors.safetensors    the final (V, D) word vectors; vectors.txt: the same, word2vec text format
    metrics.jsonl, loss.png
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from rich.console import Console
from rich.progress import TextColumn
from torch import nn

from lmforge.embeddings.batches import (
    EpochBatches,
    NegativeSampler,
    cbow_windows,
    keep_probabilities,
    skipgram_pairs,
    subsample,
)
from lmforge.embeddings.corpus import EncodedCorpus, Vocab, build_vocab, bundled_texts, encode, texts_to_sentences
from lmforge.embeddings.fasttext import FastText, FastTextConfig, FastTextVectors
from lmforge.embeddings.glove import GloVe, GloVeConfig, cooccurrence
from lmforge.embeddings.vectors import VOCAB_FILE, WordVectors
from lmforge.embeddings.word2vec import Word2Vec, Word2VecConfig
from lmforge.errors import ConfigError
from lmforge.io import read_json, read_text, write_json
from lmforge.models.registry import save_model
from lmforge.progress import progress_bar
from lmforge.seeding import seed_everything
from lmforge.train.metrics import MetricsLog, plot_loss

Method = Literal["skipgram", "cbow", "glove", "fasttext"]
METHODS: tuple[str, ...] = ("skipgram", "cbow", "glove", "fasttext")
RUN_FILE = "run.json"
TEXT_FILE = "vectors.txt"
# Starting learning rates of word2vec.c (skip-gram 0.025, CBOW 0.05) and fastText (0.05). glove.c uses 0.05
# with one AdaGrad update per matrix entry; on batches of 4,096 entries 0.2 learned far more per epoch
# (tinyshakespeare, 10 epochs: related-minus-unrelated cosine gap 0.30 vs 0.002 with 0.05).
DEFAULT_LR = {"skipgram": 0.025, "cbow": 0.05, "glove": 0.2, "fasttext": 0.05}
DEFAULT_BATCH = {"skipgram": 1024, "cbow": 1024, "glove": 4096, "fasttext": 1024}
DEFAULT_WINDOW = {"skipgram": 5, "cbow": 5, "glove": 10, "fasttext": 5}
MIN_LR_FRACTION = 1e-4


@dataclass
class EmbeddingRun:
    """Everything that defines a training run (saved as run.json)."""

    method: Method = "skipgram"
    files: list[str] = field(default_factory=list)  # UTF-8 text files; empty = the bundled books
    dim: int = 100
    window: int | None = None  # None: 5 (word2vec, FastText) or 10 (GloVe)
    min_count: int = 5
    max_vocab: int | None = None
    epochs: int = 5
    batch_size: int | None = None  # examples per step; None: 1024 (4096 GloVe). word2vec.c: one pair per update
    lr: float | None = None  # None: per-method default (DEFAULT_LR)
    negatives: int = 5
    sample: float = 1e-3  # frequent-word subsampling threshold (0 = off)
    x_max: float = 100.0  # GloVe weighting
    alpha: float = 0.75
    buckets: int = 100_000  # FastText n-gram buckets
    min_n: int = 3
    max_n: int = 6
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        self.window = self.window or DEFAULT_WINDOW[self.method]
        self.lr = self.lr or DEFAULT_LR[self.method]
        self.batch_size = self.batch_size or DEFAULT_BATCH[self.method]
        positive = {"dim": self.dim, "window": self.window, "epochs": self.epochs, "batch_size": self.batch_size,
                    "negatives": self.negatives, "min_count": self.min_count}
        bad = [f"{k}={v}" for k, v in positive.items() if v <= 0]
        if bad:
            raise ConfigError(f"these settings must be positive: {', '.join(bad)}")

    @classmethod
    def from_json(cls, raw: dict[str, Any], source: str = RUN_FILE) -> EmbeddingRun:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{source}: unknown setting(s) {unknown}")
        return cls(**raw)


@dataclass
class TrainedEmbeddings:
    vectors: WordVectors
    model: nn.Module
    steps: int
    elapsed_s: float
    final_loss: float  # mean loss per example over the last logged window
    out_dir: Path


def corpus_for(run: EmbeddingRun) -> tuple[Vocab, EncodedCorpus]:
    texts = [read_text(f) for f in run.files] if run.files else bundled_texts()
    sentences = texts_to_sentences(texts)
    vocab = build_vocab(sentences, run.min_count, run.max_vocab)
    return vocab, encode(sentences, vocab)


def _sgns_batches(run: EmbeddingRun, vocab: Vocab, corpus: EncodedCorpus) -> EpochBatches:
    keep = keep_probabilities(vocab.counts, run.sample)
    window = run.window or 0

    def make_epoch(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        kept = subsample(corpus, keep, rng)
        if run.method == "cbow":
            return cbow_windows(kept, window, rng)  # inputs: contexts (M, 2W), target: center
        centers, contexts = skipgram_pairs(kept, window, rng)
        return centers, contexts

    return EpochBatches(make_epoch, run.batch_size, run.seed, NegativeSampler(vocab.counts), run.negatives)


def _glove_batches(run: EmbeddingRun, vocab: Vocab, corpus: EncodedCorpus) -> EpochBatches:
    rows, cols, counts = cooccurrence(corpus, len(vocab), run.window or 0)
    return EpochBatches(lambda rng: (rows, cols, counts), run.batch_size, run.seed)


def build(run: EmbeddingRun, vocab: Vocab, corpus: EncodedCorpus) -> tuple[nn.Module, EpochBatches]:
    """The model and its batch source for ``run.method``."""
    v = len(vocab)
    if run.method == "glove":
        return GloVe(GloVeConfig(v, run.dim, run.x_max, run.alpha)), _glove_batches(run, vocab, corpus)
    if run.method == "fasttext":
        config = FastTextConfig(v, run.dim, run.buckets, run.min_n, run.max_n)
        return FastText(config, vocab.words), _sgns_batches(run, vocab, corpus)
    return Word2Vec(Word2VecConfig(v, run.dim, run.method)), _sgns_batches(run, vocab, corpus)


def _optimizer(run: EmbeddingRun, model: nn.Module) -> torch.optim.Optimizer:
    """Both optimizers accept the sparse gradients of the embedding tables."""
    if run.method == "glove":
        return torch.optim.Adagrad(model.parameters(), lr=run.lr or 0.0, initial_accumulator_value=1.0)
    return torch.optim.SGD(model.parameters(), lr=run.lr or 0.0)


def _lr_at(run: EmbeddingRun, step: int, total: int) -> float:
    """word2vec's linear decay to ``lr * 1e-4``; GloVe keeps AdaGrad's constant base rate."""
    base = run.lr or 0.0
    if run.method == "glove":
        return base
    return base * max(MIN_LR_FRACTION, 1.0 - step / total)


def fit(run: EmbeddingRun, model: nn.Module, batches: EpochBatches, out_dir: Path,
        console: Console | None = None) -> tuple[int, float, float]:
    """Run ``run.epochs`` epochs of sparse updates; returns (steps, seconds, last mean loss per example)."""
    total = max(1, math.ceil(run.epochs * batches.examples_per_epoch() / run.batch_size))
    optimizer = _optimizer(run, model)
    metrics = MetricsLog(out_dir / "metrics.jsonl")
    log_every = max(1, total // 200)
    window_loss, window_examples, last = 0.0, 0, float("nan")
    start = time.perf_counter()
    model.train()
    with progress_bar(TextColumn("{task.fields[stats]}"), console=console) as bar:
        task = bar.add_task(f"training {run.method}", total=total, stats="")
        for step in range(1, total + 1):
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(run, step - 1, total)
            batch = batches.next_batch()
            loss = model(*batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            window_loss += loss.item()
            window_examples += len(batch[0])
            if step % log_every == 0 or step == total:
                last = window_loss / window_examples
                metrics.write({"step": step, "loss": last, "lr": optimizer.param_groups[0]["lr"],
                               "elapsed_s": time.perf_counter() - start})
                bar.update(task, completed=step, stats=f"loss {last:.4f}")
                window_loss, window_examples = 0.0, 0
    plot_loss(metrics.records(), out_dir / "loss.png", title=f"{run.method}: loss per example")
    return total, time.perf_counter() - start, last


def word_vectors(model: nn.Module, vocab: Vocab) -> WordVectors:
    if isinstance(model, FastText):
        return FastTextVectors(vocab.words, model, vocab.counts)
    return WordVectors(vocab.words, model.word_vectors(), vocab.counts)


def train_embeddings(run: EmbeddingRun, out_dir: str | os.PathLike[str],
                     console: Console | None = None) -> TrainedEmbeddings:
    """Train ``run`` into ``out_dir`` (see the module docstring for what is written there)."""
    out_dir = Path(out_dir)
    seed_everything(run.seed)  # table initialisation; the batches have their own seeded RNGs
    vocab, corpus = corpus_for(run)
    model, batches = build(run, vocab, corpus)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / RUN_FILE, dataclasses.asdict(run))
    steps, elapsed, loss = fit(run, model, batches, out_dir, console)
    save_model(model, out_dir)
    vectors = word_vectors(model.eval(), vocab)
    vectors.save(out_dir)
    vectors.save_word2vec_text(out_dir / TEXT_FILE)
    return TrainedEmbeddings(vectors, model, steps, elapsed, loss, out_dir)


def load_run(out_dir: str | os.PathLike[str]) -> EmbeddingRun:
    """The settings a folder was trained with."""
    return EmbeddingRun.from_json(read_json(Path(out_dir) / RUN_FILE, "run settings"))


def vocab_of(directory: str | os.PathLike[str]) -> Vocab:
    path = Path(directory) / VOCAB_FILE
    return Vocab.from_json(read_json(path, "vocabulary"), str(path))
