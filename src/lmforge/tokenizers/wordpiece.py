"""BERT's WordPiece tokenizer, from a ``vocab.txt`` (one token per line, id = line number).

BERT tokenizes in three steps, each implemented in lmforge:

1. normalize (:func:`~lmforge.tokenizers.normalizers.bert_normalize`): drop
   control characters, unify whitespace, space out CJK ideographs, and for
   *uncased* models strip accents and lowercase;
2. pre-tokenize (:func:`~lmforge.tokenizers.pre_tokenizers.bert_pre_tokenize`):
   split on whitespace and around every punctuation character;
3. WordPiece (:class:`~lmforge.tokenizers.subword_models.WordPieceModel`):
   greedy longest-match-first with ``##`` continuation pieces.

Sentences are wrapped as ``[CLS] A [SEP]`` or ``[CLS] A [SEP] B [SEP]`` (with
segment ids 0/1) by :meth:`HFTokenizer.encode_pair`. The result is an ordinary
:class:`~lmforge.tokenizers.pipeline.HFTokenizer`, saved as a standard
``tokenizer.json`` that HF ``tokenizers`` reads back with identical ids.

>>> tok = bert_wordpiece_from_vocab("vocab.txt")             # doctest: +SKIP
>>> tok.decode(tok.encode("Unaffable!", add_special_tokens=True))  # doctest: +SKIP
'[CLS] unaffable! [SEP]'
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

from lmforge.errors import ConfigError, DataError
from lmforge.io import read_text
from lmforge.tokenizers.normalizers import bert_normalize
from lmforge.tokenizers.pipeline import HFTokenizer
from lmforge.tokenizers.pre_tokenizers import bert_pre_tokenize

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def bert_tokenizer_json(
    vocab: Mapping[str, int],
    lowercase: bool = True,
    strip_accents: bool | None = None,
    handle_chinese_chars: bool = True,
    max_chars_per_word: int = 100,
) -> dict[str, Any]:
    """The ``tokenizer.json`` document of a BERT WordPiece tokenizer with this vocabulary."""
    missing = [s for s in BERT_SPECIALS if s not in vocab]
    if missing:
        raise ConfigError(f"a BERT vocabulary needs the special tokens {list(BERT_SPECIALS)}; missing {missing}")
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for s in sorted(BERT_SPECIALS, key=vocab.__getitem__)
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": handle_chinese_chars,
                       "strip_accents": strip_accents, "lowercase": lowercase},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", sep_id], "cls": ["[CLS]", cls_id]},
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": max_chars_per_word, "vocab": dict(vocab)},
    }


def bert_wordpiece_from_vocab(
    path: str | Path, lowercase: bool = True, strip_accents: bool | None = None
) -> HFTokenizer:
    """Load BERT's ``vocab.txt``. ``lowercase=True`` for *uncased* checkpoints (e.g. MiniLM)."""
    vocab: dict[str, int] = {}
    for lineno, token in enumerate(read_text(path).split("\n"), start=1):
        if token and token in vocab:
            raise ConfigError(f"{path}: line {lineno}: token {token!r} already appears on line {vocab[token] + 1}")
        if token:
            vocab[token] = lineno - 1
    return HFTokenizer(bert_tokenizer_json(vocab, lowercase, strip_accents), str(path))


def train_wordpiece(
    texts: str | Iterable[str],
    vocab_size: int,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> HFTokenizer:
    """Learn a BERT WordPiece vocabulary with the original likelihood criterion.

    Words (BERT-normalized and pre-tokenized) start as characters, non-initial
    ones with the ``##`` prefix. Each step merges the adjacent pair ``(a, b)``
    with the highest ``count(ab) / (count(a) * count(b))``: the merge that most
    increases the likelihood of the training data under a unigram model. Unlike
    BPE's raw frequency, this prefers pairs whose parts rarely occur apart
    (HF's ``WordPieceTrainer`` uses BPE frequency instead, so vocabularies differ).
    """
    words = _count_words([texts] if isinstance(texts, str) else texts, lowercase)
    # each distinct word as a list of symbols: "hello" -> ["h", "##e", "##l", "##l", "##o"]
    splits = [[w[0], *("##" + c for c in w[1:])] for w in words]
    counts = list(words.values())
    vocab = list(dict.fromkeys([*BERT_SPECIALS, *sorted({s for sp in splits for s in sp})]))
    if vocab_size < len(vocab):
        raise ConfigError(f"vocab_size {vocab_size} is smaller than the {len(vocab)} specials and characters")
    symbol_counts: Counter[str] = Counter()
    pair_counts: Counter[tuple[str, str]] = Counter()
    where: dict[tuple[str, str], set[int]] = defaultdict(set)  # pair -> words containing it

    def account(k: int, sign: int) -> None:
        sp, n = splits[k], counts[k] * sign
        for s in sp:
            symbol_counts[s] += n
        for pair in pairwise(sp):
            pair_counts[pair] += n
            if sign > 0:
                where[pair].add(k)
            elif pair_counts[pair] <= 0:
                del pair_counts[pair]

    for k in range(len(splits)):
        account(k, +1)
    while len(vocab) < vocab_size:
        scores = ((c / (symbol_counts[a] * symbol_counts[b]), (a, b)) for (a, b), c in pair_counts.items()
                  if c >= min_frequency)
        best = max(scores, default=None)
        if best is None:
            break  # no pair occurs often enough: the vocabulary is complete
        a, b = pair = best[1]
        merged = a + b[2:]  # b is a "##" continuation piece
        for k in where.pop(pair):
            if pair in pairwise(splits[k]):  # an earlier merge in this word may have consumed it
                account(k, -1)
                splits[k] = _merge_pair(splits[k], a, b, merged)
                account(k, +1)
        vocab.append(merged)
    return HFTokenizer(bert_tokenizer_json({t: i for i, t in enumerate(vocab)}, lowercase), "trained WordPiece")


def _count_words(texts: Iterable[str], lowercase: bool) -> Counter[str]:
    words: Counter[str] = Counter()
    for text in texts:
        words.update(bert_pre_tokenize(bert_normalize(text, lowercase_=lowercase)))
    if not words:
        raise DataError("the training corpus is empty: WordPiece needs some words")
    return words


def _merge_pair(symbols: list[str], a: str, b: str, merged: str) -> list[str]:
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
            out.append(merged)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out
