"""How a task turns text into model input for a given tokenizer.

BERT-style tokenizers (they define ``[CLS]`` and ``[SEP]``) frame inputs as
``[CLS] text [SEP]`` and pairs as ``[CLS] question [SEP] context [SEP]``; GPT-style ones
use the plain ids (the classification head reads the last token instead of ``[CLS]``).
Which framing applies is read from the tokenizer's special tokens, never from a model name.

Words are sub-tokenized one at a time (:meth:`Codec.word_ids`) where a task needs to know
which sub-tokens came from which word: NER labels words, QA answers are character spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmforge.tokenizers.base import Tokenizer

WORD = re.compile(r"\w+|[^\w\s]")  # words and single punctuation marks, as BERT's basic tokenizer splits


@dataclass
class Codec:
    tokenizer: Tokenizer
    cls_id: int | None
    sep_id: int | None
    pad_id: int

    @classmethod
    def for_tokenizer(cls, tokenizer: Tokenizer) -> Codec:
        cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        pad = tokenizer.token_to_id("[PAD]")
        if pad is None:
            pad = tokenizer.eos_id if tokenizer.eos_id is not None else 0
        return cls(tokenizer, cls_id, sep_id, pad)

    @property
    def bert_style(self) -> bool:
        return self.cls_id is not None and self.sep_id is not None

    def ids(self, text: str) -> list[int]:
        """Sub-token ids of ``text`` without special tokens (also if the tokenizer adds them itself)."""
        ids = self.tokenizer.encode(text)
        if self.bert_style:
            if ids and ids[0] == self.cls_id:
                ids = ids[1:]
            if ids and ids[-1] == self.sep_id:
                ids = ids[:-1]
        return ids

    def word_ids(self, word: str, first: bool) -> list[int]:
        """Sub-tokens of one word; byte-level BPE marks a word start by its leading space."""
        return self.ids(word if first or self.bert_style else " " + word)

    def single(self, ids: list[int], max_len: int) -> list[int]:
        """Frame one text, truncated so the framed input fits ``max_len``."""
        if self.bert_style:
            return [self.cls_id, *ids[:max_len - 2], self.sep_id]  # type: ignore[list-item]
        return ids[:max_len]

    def pair_prefix(self, first: list[int]) -> list[int]:
        """What goes before the second segment of a pair (e.g. ``[CLS] question [SEP]``)."""
        if self.bert_style:
            return [self.cls_id, *first, self.sep_id]  # type: ignore[list-item]
        return [*first, self.pad_id]

    def pair_suffix(self) -> list[int]:
        return [self.sep_id] if self.bert_style else []  # type: ignore[list-item]
