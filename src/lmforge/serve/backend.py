"""What the server serves: one model directory's model, tokenizer, chat format and engine.

Everything here runs on the worker thread (or in a thread pool for tokenizing);
the HTTP layer in :mod:`lmforge.serve.app` only validates, queues and formats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from lmforge.infer.chat import ChatFormat, Message, TextPiece, TextStreamer, chat_format_for, generate_text
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.loading import load_model_dir
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.sentence import SentenceEncoder
from lmforge.models.base import Capability
from lmforge.serve.errors import APIError


class ModelBackend:
    def __init__(self, model_dir: str | Path, name: str | None = None, chat_format: str = "auto") -> None:
        model_dir = Path(model_dir)
        # a decoder-only LM generates (and embeds, roughly); an encoder such as BERT only embeds; anything
        # else (T5, the RNN translator, an ELECTRA pair) is refused here, before the server starts
        self.model, self.tokenizer = load_model_dir(model_dir, Capability.GENERATE, Capability.EMBED)
        self.name = name or model_dir.resolve().name
        self.context_length: int = self.model.config.context_length
        self.generative = Capability.GENERATE in self.model.capabilities
        self.engine = GenerationEngine(self.model) if self.generative else None
        self.chat_format: ChatFormat | None = (chat_format_for(self.tokenizer, chat_format, model_dir)
                                               if self.generative else None)
        self.created = int(model_dir.joinpath("config.json").stat().st_mtime)
        self.encoder = (SentenceEncoder(self.model, self.tokenizer, name=self.name)
                        if Capability.EMBED in self.model.capabilities else None)

    def chat_prompt(self, messages: Sequence[Message]) -> list[int]:
        return self.chat_format.render(messages)

    def require_generative(self) -> None:
        if not self.generative:
            raise APIError(400, f"'{self.name}' is an encoder ({self.model.family}) model: it serves /v1/embeddings "
                           "only", "model", "model_not_generative")

    def require_embedding(self) -> None:
        if Capability.EMBED not in self.model.capabilities:
            raise APIError(400, f"'{self.name}' ({self.model.family}) cannot embed texts: it serves completions only",
                           "model", "model_cannot_embed")

    def sampling_stops(self) -> frozenset[int]:
        """Token ids that end any reply: end-of-text plus the chat format's end-of-turn marker."""
        return frozenset({self.tokenizer.eos_id} - {None}) | self.chat_format.stop_ids

    def generate(self, prompt_ids: Sequence[int], config: SamplingConfig,
                 stop_strings: Sequence[str]) -> tuple[TextStreamer, Iterator[TextPiece]]:
        return generate_text(self.engine, self.tokenizer, prompt_ids, config, stop_strings)

    def encode_for_embedding(self, text: str) -> list[int]:
        """An encoder gets its special tokens ([CLS] ... [SEP]) as in training; a causal LM the plain ids."""
        if self.generative:
            return self.tokenizer.encode(text)
        return self.tokenizer.encode(text, add_special_tokens=True)  # type: ignore[call-arg]  # HF tokenizers

    def embed(self, inputs: Sequence[Sequence[int]]) -> list[list[float]]:
        """One unit vector per input: the mean of the last hidden states over real tokens (the model's ``embed``),
        length-sorted padded batches through :class:`SentenceEncoder`.

        For BERT/MiniLM that is how sentence-transformers models are trained to be used. A
        causal LM was not trained for this, so its vectors suit plumbing and rough similarity only.
        """
        return self.encoder.encode_ids(inputs).tolist()
