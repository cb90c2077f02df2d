"""Train a translator on a pair file with the one :class:`~lmforge.train.trainer.Trainer`.

Glue only: load + split the pairs, build the word vocabularies (lowercase) and
the truecaser (which restores the capitals) from the training part, encode,
and hand the Trainer our batches and :func:`~lmforge.models.seq2seq.seq2seq_loss`.
The validation loss is the dev part's; BLEU is for the test part (see
:meth:`Translator.bleu`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from rich.console import Console

from lmforge.data.pairs import Split, Truecaser, tokenize
from lmforge.data.seq2seq_batches import PairBatches, Vocab, batches_in_order
from lmforge.data.translation import DATA_FILE, DataConfig, encode_pairs, load_split
from lmforge.io import write_json
from lmforge.models.seq2seq import Seq2Seq, Seq2SeqConfig, seq2seq_loss
from lmforge.recipes.translator import Translator, save_vocabs
from lmforge.seeding import seed_everything
from lmforge.train.distributed import SINGLE
from lmforge.train.trainer import TrainConfig, Trainer, TrainResult


def train_translator(data: DataConfig, model_config: Seq2SeqConfig, train_config: TrainConfig,
                     out_dir: str | Path, resume: bool = False, console: Console | None = None,
                     device: torch.device | None = None) -> tuple[Translator, TrainResult, Split]:
    """Train on ``device`` (None: CPU); ``out_dir`` ends up a translator directory (config, weights, vocab) plus
    metrics and loss.png."""
    SINGLE.check_launch()  # under torchrun: refused before the vocabularies are written
    split = load_split(data)
    source_vocab = Vocab.build((tokenize(p.source) for p in split.train), data.min_freq)
    target_vocab = Vocab.build((tokenize(p.target) for p in split.train), data.min_freq)
    truecaser = Truecaser.from_targets(split.train)
    model_config = dataclasses.replace(model_config, src_vocab_size=len(source_vocab),
                                       tgt_vocab_size=len(target_vocab), pad_id=Vocab.pad_id,
                                       bos_id=Vocab.bos_id, eos_id=Vocab.eos_id)
    seed_everything(train_config.seed)  # the initial weights are the run's first random draw
    model = Seq2Seq(model_config)
    train = PairBatches(encode_pairs(split.train, source_vocab, target_vocab), data.batch_size, train_config.seed)
    dev = batches_in_order(encode_pairs(split.dev, source_vocab, target_vocab), data.batch_size) if split.dev else None
    save_vocabs(out_dir, source_vocab, target_vocab, truecaser)  # before training: every checkpoint's parent is usable
    write_json(Path(out_dir) / DATA_FILE, dataclasses.asdict(data))  # so evaluation can rebuild the same split
    trainer = Trainer(model, train_config, train, out_dir, val_batches=(lambda: dev) if dev else None,
                      loss_fn=seq2seq_loss, console=console, device=device)
    result = trainer.fit(resume=resume)
    return Translator(model, source_vocab, target_vocab, truecaser), result, split
