"""What the server serves: one model directory's model, tokenizer, chat format and engine.

Everything here runs on the worker thread (or in a thread pool for tokenizing);
the HTTP layer in :mod:`lmforge.serve.app` only validates, queues and formats.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from lmforge.errors import ConfigError
from lmforge.infer.chat import ChatFormat, Message, TextPiece, TextStreamer, chat_format_for, generate_text
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.registry import load_model
from lmforge.serve.errors import APIError
from lmforge.tokenizers import Tokenizer, load_tokenizer


class ModelBackend:
    def __init__(self, model_dir: str | Path, name: str | None = None, chat_format: str = "auto") -> None:
        model_dir = Path(model_dir)
        self.model = load_model(model_dir)
        if not (model_dir / "tokenizer.json").is_file():
            raise ConfigError(f"{model_dir}: no tokenizer.json next to the model; copy the one it was trained with")
        self.tokenizer: Tokenizer = load_tokenizer(model_dir / "tokenizer.json")
        self.name = name or model_dir.resolve().name
        self.context_length: int = self.model.config.context_length
        # a causal LM (it has a KV cache) generates; an encoder such as BERT only embeds
        self.generative = hasattr(self.model, "new_cache")
        self.engine = GenerationEngine(self.model) if self.generative else None
        self.chat_format: ChatFormat | None = (chat_format_for(self.tokenizer, chat_format, model_dir)
                                               if self.generative else None)
        self.created = int(model_dir.joinpath("config.json").stat().st_mtime)

    def chat_prompt(self, messages: Sequence[Message]) -> list[int]:
        return self.chat_format.render(messages)

    def require_generative(self) -> None:
        if not self.generative:
            raise APIError(400, f"'{self.name}' is an encoder ({self.model.family}) model: it serves /v1/embeddings "
                           "only", "model", "model_not_generative")

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

    @torch.inference_mode()
    def embed(self, inputs: Sequence[Sequence[int]]) -> list[list[float]]:
        """One vector per input, the mean over positions of the last hidden state.

        An encoder with ``sentence_embedding`` (BERT/MiniLM) uses it: that is how
        sentence-transformers models are trained to be used. A causal LM gets the mean
        of the states entering its LM head; it was not trained for this, so these
        vectors suit plumbing and rough similarity only.
        """
        out = []
        for ids in inputs:
            x = torch.tensor([list(ids)], dtype=torch.long, device=self._device())  # (1, T)
            if hasattr(self.model, "sentence_embedding"):
                vector = self.model.sentence_embedding(x, torch.ones_like(x))[0]  # (C,)
            else:
                vector = self._last_hidden(x)[0].mean(dim=0)  # (T, C) -> (C,)
            out.append(vector.float().tolist())
        return out

    def _last_hidden(self, x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        hook = self.model.lm_head.register_forward_pre_hook(lambda _module, args: captured.append(args[0]))
        try:
            self.model(x)
        finally:
            hook.remove()
        return captured[0]  # (1, T, C): what the LM head reads

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device
