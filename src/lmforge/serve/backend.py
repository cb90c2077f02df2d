"""What the server serves: one model directory's model, tokenizer, chat format and engine,
and the continuous batch (:class:`Batcher`) that generates for every active request at once.

Everything here runs on the worker thread (or in a thread pool for tokenizing);
the HTTP layer in :mod:`lmforge.serve.app` only validates, queues and formats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import torch

from lmforge.infer.batch import BatchEngine, Row, StepEvent
from lmforge.infer.beam import BeamConfig, beam_search
from lmforge.infer.chat import ChatFormat, Message, TextPiece, TextStreamer, chat_format_for
from lmforge.infer.engine import GeneratedToken, GenerationEngine
from lmforge.infer.loading import load_model_dir
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.sentence import SentenceEncoder
from lmforge.models.base import Capability, CausalLM
from lmforge.serve.errors import APIError


class Batcher:
    """One server's continuous batch: every request being generated is a row of one :class:`BatchEngine`.

    The worker thread advances each request's token iterator (:meth:`tokens`) one token per turn,
    round-robin. A request whose next token is not there yet is waiting for the next step, and so is
    every other row: it runs that step (one token chosen per row, one forward pass for all) and each
    row's token goes to its request's inbox. So one round of the worker is one batched step. A new
    request joins when the worker starts its job (:meth:`tokens` is called then, and the worker starts
    every job it admits before any of them steps), so a burst of requests is prefilled in one forward
    at the next step, which also gives each its first token; a finished one leaves, a closed one
    (client gone, stop string) frees its slot at once, and a row that fails gets its error alone.
    """

    def __init__(self, engine: BatchEngine) -> None:
        self.engine = engine
        self._inboxes: dict[int, deque[GeneratedToken | Exception | None]] = {}  # id(row) -> its events

    def tokens(self, prompt_ids: Sequence[int], config: SamplingConfig) -> Generator[GeneratedToken]:
        """Join the batch now (a slot is taken; the prompt is prefilled at the next step) and return the row's
        tokens. The iterator is already started, so closing it frees the row even before its first token."""
        row = self.engine.add(prompt_ids, config)
        self._inboxes[id(row)] = deque()
        tokens = self._follow(row)
        next(tokens)  # to the bare yield, inside the try
        return tokens

    def _follow(self, row: Row) -> Generator[GeneratedToken | None]:
        inbox = self._inboxes[id(row)]
        try:
            yield None  # primed by tokens()
            while True:
                while not inbox:
                    self._step()
                item = inbox.popleft()
                if item is None:  # finished (stop token or max_tokens)
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.engine.cancel(row)
            del self._inboxes[id(row)]

    def _step(self) -> None:
        self._deliver(self.engine.step())

    def _deliver(self, events: list[StepEvent]) -> None:
        for event in events:
            self._inboxes[id(event.row)].append(event.error if event.error is not None else event.token)


class ModelBackend:
    def __init__(self, model_dir: str | Path, name: str | None = None, chat_format: str = "auto",
                 device: torch.device | None = None, precision: str = "fp32", batch: int = 1,
                 pack: bool = True) -> None:
        model_dir = Path(model_dir)
        # a decoder-only LM generates (and embeds, roughly); an encoder such as BERT only embeds; anything
        # else (T5, the RNN translator, an ELECTRA pair) is refused here, before the server starts. The engines
        # and the batched KV cache are built where the weights are (``device``; None: CPU), in their dtype
        # (``precision``: auto times a decoding step of ``batch`` rows, the server's largest batch), packed for
        # the CPU's kernels when ``pack`` (a Transformer decoder; the server only decodes and embeds).
        self.model, self.tokenizer = load_model_dir(model_dir, Capability.GENERATE, Capability.EMBED, device=device,
                                                    precision=precision, batch=batch, pack=pack)
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

    def batcher(self, max_batch: int, max_len: int | None = None) -> Batcher | None:
        """A new continuous batch of ``max_batch`` rows of ``max_len`` positions (its KV cache is allocated
        now), or None for a model without a KV cache (an RNN LM), whose requests take turns token by token."""
        if not isinstance(self.model, CausalLM):
            return None
        return Batcher(BatchEngine(self.model, max_batch, max_len))

    def generate(self, prompt_ids: Sequence[int], config: SamplingConfig, stop_strings: Sequence[str],
                 batcher: Batcher | None = None) -> tuple[TextStreamer, Iterator[TextPiece]]:
        """Text pieces for one request: a row of ``batcher``'s batch, or a generation of its own without one."""
        tokens = batcher.tokens(prompt_ids, config) if batcher else self.engine.stream(prompt_ids, config)
        return self._text(tokens, stop_strings, config.max_new_tokens)

    def beam_search(self, prompt_ids: Sequence[int], config: BeamConfig, stop_strings: Sequence[str],
                    batcher: Batcher | None) -> tuple[TextStreamer, Iterator[TextPiece]]:
        """The best beam-search hypothesis, as text pieces (its beams hold ``config.width`` rows of the batch
        while it runs; the other rows wait for those steps)."""
        if batcher is None:
            raise APIError(400, f"beam search needs a Transformer decoder; '{self.name}' is a {self.model.family!r} "
                           "model", "use_beam_search", "unsupported_value")

        def tokens() -> Iterator[GeneratedToken]:  # runs when the worker first advances the job
            for token in beam_search(batcher.engine, prompt_ids, config):
                yield GeneratedToken(token, 0.0)  # a hypothesis has no per-token sample log-prob (logprobs: 400)
        return self._text(tokens(), stop_strings, config.max_new_tokens)

    def _text(self, tokens: Iterator[GeneratedToken], stop_strings: Sequence[str],
              max_new_tokens: int) -> tuple[TextStreamer, Iterator[TextPiece]]:
        streamer = TextStreamer(self.tokenizer, stop_strings)
        return streamer, streamer.stream(tokens, max_new_tokens)

    def encode_for_embedding(self, text: str) -> list[int]:
        """The ids the encoder embeds for ``text``, as ``lmforge rag`` gets them (:meth:`SentenceEncoder.token_ids`:
        an encoder's special tokens added); a text longer than the window is refused, as OpenAI refuses it."""
        ids, truncated = self.encoder.token_ids(text)
        if truncated:
            raise APIError(400, f"an input is longer than this model's {self.encoder.max_tokens}-token window",
                           "input", "context_length_exceeded")
        return ids

    def embed(self, inputs: Sequence[Sequence[int]]) -> list[list[float]]:
        """One unit vector per input: the mean of the last hidden states over real tokens (the model's ``embed``),
        length-sorted padded batches through :class:`SentenceEncoder`.

        For BERT/MiniLM that is how sentence-transformers models are trained to be used. A
        causal LM was not trained for this, so its vectors suit plumbing and rough similarity only.
        """
        return self.encoder.encode_ids(inputs).tolist()
