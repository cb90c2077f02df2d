"""Answers grounded in retrieved chunks, with ``[n]`` citations resolved back to file and offsets.

The retrieved chunks are numbered in the prompt ("[1] (file) text ..."); the model is asked to
answer from them only and to cite them by number. After generation every ``[n]`` in the answer
is looked up in that numbering, so a reader can open ``file`` at ``start``..``end`` and check the
claim. A number the prompt never showed is reported as invalid instead of being silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from lmforge.infer.chat import ChatFormat, Message, generate_text
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.rag.retriever import Hit
from lmforge.tokenizers import Tokenizer

SYSTEM = ("Answer the question using only the numbered sources below. After each fact, cite its source "
          "like [1]. If the sources do not contain the answer, say that you do not know.")
_CITATION = re.compile(r"\[(\d+)\]")


@dataclass
class Citation:
    number: int
    hit: Hit | None  # None: the answer cites a number that no source had

    def describe(self) -> str:
        if self.hit is None:
            return f"[{self.number}] (no such source)"
        return f"[{self.number}] {self.hit.chunk.where}"


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    sources: list[Hit]  # what the prompt showed, numbered from 1


def cited_messages(question: str, hits: Sequence[Hit]) -> list[Message]:
    sources = "\n\n".join(f"[{i}] ({h.chunk.source}) {' '.join(h.chunk.text.split())}" for i, h in enumerate(hits, 1))
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: {question}"}]


def resolve_citations(text: str, hits: Sequence[Hit]) -> list[Citation]:
    """Every distinct ``[n]`` in ``text``, in order of first appearance."""
    numbers = dict.fromkeys(int(n) for n in _CITATION.findall(text))
    return [Citation(n, hits[n - 1] if 1 <= n <= len(hits) else None) for n in numbers]


def answer(engine: GenerationEngine, tokenizer: Tokenizer, chat_format: ChatFormat, question: str,
           hits: Sequence[Hit], config: SamplingConfig) -> Answer:
    """Generate a cited answer; sources that do not fit the context window (with the reply) are left out, last first."""
    hits = list(hits)
    room = engine.context_length - config.max_new_tokens
    while len(chat_format.render(cited_messages(question, hits))) > room and hits:
        hits.pop()
    prompt = chat_format.render(cited_messages(question, hits))
    config = replace(config, stop_tokens=config.stop_tokens | chat_format.stop_ids)
    _, pieces = generate_text(engine, tokenizer, prompt, config, chat_format.stop_strings)
    text = "".join(p.text for p in pieces).strip()
    return Answer(text, resolve_citations(text, hits), hits)
