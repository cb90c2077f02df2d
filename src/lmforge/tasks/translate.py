"""Translation with the Transformer encoder-decoder (:class:`~lmforge.models.t5.T5`), trained from scratch.

It uses exactly the data pipeline of the GRU seq2seq translator (:mod:`lmforge.data.translation`):
the same pair file, normalisation, split by source sentence, word vocabulary, truecaser and
multi-reference sacreBLEU (cased, against the original sentences), so the two models' BLEU scores
compare directly. The only difference on the data side: T5 shares one embedding table between
encoder and decoder, so source and target words go into one joint vocabulary.

Training is teacher forcing: the decoder reads ``<s> y1 .. yn`` and is scored with
cross-entropy on ``y1 .. yn </s>`` (padding ignored). Translation is greedy decoding with
the decoder's KV cache, a whole batch at a time (the encoder's padding is masked out).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.data.pairs import Split, Truecaser, detokenize, references_by_source, tokenize
from lmforge.data.seq2seq_batches import PairBatch, PairBatches, Vocab
from lmforge.data.translation import DataConfig, encode_pairs, load_split
from lmforge.evaluate.bleu import BleuScores
from lmforge.infer.seq2seq import greedy_decode_many
from lmforge.io import write_json
from lmforge.models.t5 import T5, T5Config
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import steps_for
from lmforge.tasks.training import FinetuneConfig, run_trainer

VOCAB_FILE = "vocab.json"


def t5_translation_loss(model: nn.Module, batch: PairBatch) -> torch.Tensor:
    mask = (batch.src != Vocab.pad_id).long()
    logits = model(batch.src, batch.tgt_in, mask)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), batch.tgt_out.flatten(), ignore_index=Vocab.pad_id)


@torch.inference_mode()
def greedy_translate(model: T5, vocab: Vocab, truecaser: Truecaser, sources: Sequence[str],
                     max_new_tokens: int = 40, batch_size: int = 128) -> list[str]:
    rows = [vocab.encode(tokenize(s)) or [Vocab.unk_id] for s in sources]
    hyps = greedy_decode_many(model, rows, Vocab.pad_id, Vocab.eos_id, max_new_tokens, batch_size)
    return [detokenize(truecaser(vocab.decode(hyp.tokens))) for hyp in hyps]


def bleu_on(model: T5, vocab: Vocab, truecaser: Truecaser, pairs) -> BleuScores:
    """Corpus BLEU over the distinct sources of ``pairs``, all their translations as references (as the GRU's)."""
    sources, references = references_by_source(pairs)
    return BleuScores.of(greedy_translate(model, vocab, truecaser, sources), references)


@dataclass
class TranslateResult:
    bleu: float  # cased sacreBLEU, the standard score
    bleu_lowercased: float
    n_test_sources: int
    train_seconds: float
    steps: int
    parameters: int
    samples: list[tuple[str, str]]


def finetune_translation(data: DataConfig, model_config: T5Config, out_dir: str | Path, config: FinetuneConfig,
                         console: Console | None = None) -> TranslateResult:
    split: Split = load_split(data)
    vocab = Vocab.build((tokenize(t) for p in split.train for t in (p.source, p.target)), data.min_freq)
    truecaser = Truecaser.from_targets(split.train)
    model_config = dataclasses.replace(model_config, vocab_size=len(vocab), pad_id=Vocab.pad_id,
                                       decoder_start_id=Vocab.bos_id)
    seed_everything(config.seed)  # the initial weights are the run's first random draw
    model = T5(model_config)
    examples = encode_pairs(split.train, vocab, vocab)
    batches = PairBatches(examples, config.batch_size, config.seed)
    result = run_trainer(model, batches, t5_translation_loss, out_dir, config,
                         steps_for(len(examples), config.batch_size, config.epochs), console)
    write_json(Path(out_dir) / VOCAB_FILE, {"words": vocab.words, "truecase": truecaser.forms})
    sources, _ = references_by_source(split.test[:5])
    samples = list(zip(sources, greedy_translate(model, vocab, truecaser, sources), strict=True))
    bleu = bleu_on(model, vocab, truecaser, split.test)
    write_json(Path(out_dir) / "task.json", {"task": "translate", "bleu": bleu.cased,
                                             "bleu_lowercased": bleu.lowercased, "data": dataclasses.asdict(data)})
    return TranslateResult(bleu.cased, bleu.lowercased, len(references_by_source(split.test)[0]), result.elapsed_s,
                           result.steps, sum(p.numel() for p in model.parameters()), samples)
