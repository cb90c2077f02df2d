"""``lmforge pretrain --objective clm|mlm|span|electra|roberta|unilm|deberta|plm``: tiny pretraining runs.

Each objective pairs a model family with a batch corruption and a loss:

=========  ======  ==============================================  ==================
objective  family  batch                                           loss
=========  ======  ==============================================  ==================
clm        gpt     windows, targets shifted by one                 next-token CE
mlm        bert    ``[CLS] A [SEP] B [SEP]``, 15% masked           MLM CE + NSP CE
span       t5      15% dropped in spans -> sentinels               decoder CE
electra    electra 15% masked, generator fills, disc. detects      MLM CE + 50 x BCE
roberta    roberta ``<s> text </s>``, 15% masked afresh every read MLM CE
unilm      unilm   ``[CLS] A [SEP] B [SEP]``, 15% masked, each row  MLM CE, each row under
                   bidirectional, left-to-right or seq2seq         its own attention mask
deberta    deberta windows, 15% masked                             MLM CE
plm        xlnet   windows, a random factorization order, its      query-stream CE
                   last 1/6 predicted (``perm_mask``, targets)
=========  ======  ==============================================  ==================

All of them run on the one :class:`~lmforge.train.trainer.Trainer`. Without
``--data`` the run uses the bundled tinyshakespeare with a char tokenizer (RoBERTa: a small
byte-level BPE trained on it, as RoBERTa's tokenizer is one). The
objectives' own special tokens (``[PAD] [CLS] [SEP] [MASK]``, sentinels) get
ids after the tokenizer's vocabulary (:class:`~lmforge.objectives.masking.SpecialIds`),
recorded in ``pretrain.json``.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any, Literal

import torch
from rich.console import Console
from torch import nn

from lmforge.assets import tinyshakespeare_path
from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import load_meta, open_shards, prepare
from lmforge.errors import ConfigError
from lmforge.io import read_json, write_json
from lmforge.models.config import config_from_dict
from lmforge.models.electra import Electra, ElectraConfig
from lmforge.models.registry import build_model, save_model
from lmforge.objectives.batches import CorruptedWindows
from lmforge.objectives.clm import causal_lm_loss
from lmforge.objectives.electra import electra_loss
from lmforge.objectives.masking import SpecialIds, mlm_mask, span_counts
from lmforge.objectives.mlm import full_text_mlm_corruption, masked_lm_only_loss, mlm_nsp_corruption, mlm_nsp_loss
from lmforge.objectives.plm import plm_corruption, plm_loss
from lmforge.objectives.span import span_corruption, span_loss
from lmforge.objectives.unilm import unilm_corruption, unilm_loss
from lmforge.recipes.train_lm import LMRun, run_from_preset
from lmforge.seeding import seed_everything
from lmforge.tokenizers import train_tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE
from lmforge.train.checkpoint import latest_checkpoint
from lmforge.train.distributed import SINGLE
from lmforge.train.trainer import Trainer, TrainResult

OBJECTIVES = ("clm", "mlm", "span", "electra", "roberta", "unilm", "deberta", "plm")
PRESETS_FILE = Path(__file__).with_name("pretrain_presets.json")
RUN_FILE = "pretrain.json"
VAL_SEED = 1234
BUNDLED_BPE_VOCAB = 512  # byte-level BPE for the bundled text (objective roberta): 256 bytes + 256 merges


def bundled_data(out_dir: Path, kind: Literal["char", "bpe"] = "char") -> Path:
    """Tokenize the bundled tinyshakespeare (chars, or a small byte-level BPE) into ``out_dir/data-KIND`` (once).

    One folder per tokenizer kind, so an out dir reused with another objective never trains on ids of the other
    kind's vocabulary.
    """
    data_dir = out_dir / f"data-{kind}"
    if not (data_dir / "meta.json").is_file():
        text = tinyshakespeare_path().read_text(encoding="utf-8")
        tok_path = out_dir / f"{kind}-tokenizer.json"
        tokenizer = train_tokenizer(kind, text, BUNDLED_BPE_VOCAB if kind == "bpe" else None)
        tokenizer.save(tok_path)
        prepare([tinyshakespeare_path()], tokenizer, tok_path, data_dir)
    return data_dir


def _model(objective: str, model: dict[str, Any], special: SpecialIds) -> nn.Module:
    """Build the objective's model with the vocabulary (text + objective specials) filled in."""
    model = {**model, "vocab_size": special.vocab_size}
    if objective == "electra":
        # d_model, n_layers, ... given on the command line size the discriminator
        family_keys = {f.name for f in dataclasses.fields(ElectraConfig)} | {"family", "vocab_size"}
        disc = {**model.get("discriminator", {}), **{k: v for k, v in model.items() if k not in family_keys}}
        shared = {"vocab_size": special.vocab_size, "pad_id": special.pad,
                  "context_length": disc.get("context_length", 64)}
        config = {k: v for k, v in model.items() if k in family_keys - {"family", "vocab_size"}}
        config["discriminator"] = {**disc, **shared}
        config["generator"] = {**model.get("generator", {}), **shared}
        return Electra(config_from_dict(ElectraConfig, config, "electra model config"))
    if objective in ("mlm", "roberta", "unilm", "deberta"):
        model["pad_id"] = special.pad
    if objective == "span":
        model["pad_id"] = model["decoder_start_id"] = special.pad
    return build_model(model, source=f"{objective} model config")


def _batches(objective: str, shards, context: int, batch_size: int, special: SpecialIds, seed: int):
    """The objective's BatchSource and loss function."""
    if objective == "clm":
        return RandomWindowSampler(shards, context, batch_size, seed=seed), causal_lm_loss
    if objective == "mlm":
        return CorruptedWindows(shards, context - 3, batch_size, mlm_nsp_corruption(special), seed), mlm_nsp_loss
    if objective == "roberta":
        return CorruptedWindows(shards, context - 2, batch_size, full_text_mlm_corruption(special), seed), \
            masked_lm_only_loss
    if objective == "unilm":
        return CorruptedWindows(shards, context - 3, batch_size, unilm_corruption(special), seed), unilm_loss
    if objective == "plm":
        return CorruptedWindows(shards, context, batch_size, plm_corruption(max(1, context // 6)), seed), plm_loss
    if objective == "span":
        corrupt = span_corruption(special, decoder_start_id=special.pad)
        return CorruptedWindows(shards, context, batch_size, corrupt, seed), span_loss

    def electra_corrupt(windows, generator):
        return mlm_mask(windows, special.mask, special.text_vocab, generator)
    if objective == "deberta":
        return CorruptedWindows(shards, context, batch_size, electra_corrupt, seed), masked_lm_only_loss
    return CorruptedWindows(shards, context, batch_size, electra_corrupt, seed), electra_loss


def _context(objective: str, model: dict[str, Any]) -> int:
    config = model.get("discriminator", {}) if objective == "electra" else model
    return int(model.get("context_length", config.get("context_length", 64)))


def pretrain(
    objective: str,
    out_dir: str | Path,
    data_dir: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = False,
    console: Console | None = None,
    device: torch.device | None = None,
) -> TrainResult:
    """Pretrain a small model with ``objective`` on ``device`` (None: CPU) and write it (plus metrics,
    loss.png) to ``out_dir``."""
    SINGLE.check_launch()  # under torchrun: refused before any rank writes run.json, data or the tokenizer
    out_dir = Path(out_dir)
    if resume:
        if not (out_dir / RUN_FILE).is_file() or latest_checkpoint(out_dir / "checkpoints") is None:
            raise ConfigError(f"{out_dir}: nothing to resume (needs {RUN_FILE} and a checkpoint)")
        saved = read_json(out_dir / RUN_FILE, "pretrain settings")
        objective, run = saved["objective"], LMRun.from_json(saved["run"])
    else:
        if objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
        out_dir.mkdir(parents=True, exist_ok=True)
        tokenizer = "bpe" if objective == "roberta" else "char"
        data = Path(data_dir) if data_dir is not None else bundled_data(out_dir, tokenizer)
        preset = read_json(PRESETS_FILE, "pretrain presets")[objective]
        run = run_from_preset(preset, data, overrides or {})
    meta = load_meta(run.data_dir)
    context = _context(objective, run.model)
    n_spans = span_counts(context)[1]
    special = SpecialIds(meta.vocab_size, n_sentinels=n_spans + 1 if objective == "span" else 0)
    seed = run.train.seed
    seed_everything(seed)  # the initial weights are the run's first random draw
    model = _model(objective, run.model, special)
    train, loss_fn = _batches(objective, open_shards(run.data_dir, "train"), context, run.batch_size, special, seed)
    val_shards = open_shards(run.data_dir, "val")

    def val_batches():
        source, _ = _batches(objective, val_shards, context, run.batch_size, special, VAL_SEED)
        return (source.next_batch() for _ in range(run.eval_batches))

    write_json(out_dir / RUN_FILE, {"objective": objective, "run": run.to_json(),
                                    "special_ids": _describe(special)})
    shutil.copyfile(Path(run.data_dir) / TOKENIZER_FILE, out_dir / TOKENIZER_FILE)
    tokens_per_byte = meta.val_tokens_per_byte if objective == "clm" else None  # bits/byte only means CLM
    trainer = Trainer(model, run.train, train, out_dir, val_batches, loss_fn=loss_fn,
                      tokens_per_byte=tokens_per_byte, console=console, device=device)
    result = trainer.fit(resume=resume)
    if isinstance(model, Electra):  # the discriminator is the model to keep: save it as a plain BERT too
        save_model(model.discriminator, out_dir / "discriminator")
    return result


def _describe(special: SpecialIds) -> dict[str, Any]:
    sentinels = [special.sentinel(k) for k in range(special.n_sentinels)]
    return {"[PAD]": special.pad, "[CLS]": special.cls, "[SEP]": special.sep, "[MASK]": special.mask,
            "sentinels": sentinels}
