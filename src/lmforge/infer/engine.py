"""The generation loop: prompt ids in, a stream of new token ids out.

With the KV cache, the prompt is run through the model once ("prefill"), then
each step feeds only the newest token; every layer appends that token's keys
and values to its cache and attends over all of them. Without the cache each
step re-runs the whole (cropped) sequence: same result, quadratic cost.

When a sequence reaches the model's context length, the oldest tokens are
dropped: the cache is rebuilt from the most recent half of the context so
generation can go on (learned positions cannot extend past the context).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from lmforge.errors import LmforgeError
from lmforge.infer.sampling import SamplingConfig, apply_penalties, choose_tokens


@dataclass(frozen=True)
class GeneratedToken:
    id: int
    logprob: float  # log-probability of this token under the (temperature-free) model distribution
    top: tuple[tuple[int, float], ...] = ()  # the config.top_logprobs most likely (id, logprob), most likely first


def describe_token(logits: torch.Tensor, token: int, top_logprobs: int) -> GeneratedToken:
    """The chosen ``token`` with its log-probability under ``logits`` (V,) and the ``top_logprobs`` best."""
    logprobs = torch.log_softmax(logits.float(), dim=-1)  # (V,)
    top = ()
    if top_logprobs:
        values, top_ids = torch.topk(logprobs, min(top_logprobs, logprobs.shape[-1]))
        top = tuple(zip(top_ids.tolist(), values.tolist(), strict=True))
    return GeneratedToken(token, float(logprobs[token]), top)


def seeded_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A private random stream for one request's sampling (None: the global one)."""
    return None if seed is None else torch.Generator(device=device).manual_seed(seed)


class GenerationEngine:
    """Wraps a causal LM exposing ``forward(ids, cache)``, ``new_cache`` and ``context_length``."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.context_length: int = model.context_length

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def stream(self, prompt_ids: Sequence[int], config: SamplingConfig | None = None) -> Iterator[GeneratedToken]:
        """Yield new tokens one at a time; stops at a stop token (not yielded) or max_new_tokens."""
        config = config or SamplingConfig()
        config.validate()
        if not prompt_ids:
            raise LmforgeError("the prompt is empty: give at least one token")
        if len(prompt_ids) > self.context_length:
            raise LmforgeError(
                f"the prompt has {len(prompt_ids)} tokens but the model's context length is {self.context_length}"
            )
        generator = seeded_generator(config.seed, self._device())
        ids = list(prompt_ids)
        next_logits = _LogitsSource(self.model, self.context_length, config.use_cache, self._device())
        logits = next_logits.prefill(ids)
        for _ in range(config.max_new_tokens):
            scores = apply_penalties(logits, prompt_ids, ids[len(prompt_ids):], config)
            token = int(choose_tokens(scores, config, generator)[0])
            if token in config.stop_tokens:
                return
            yield describe_token(logits[0], token, config.top_logprobs)
            ids.append(token)
            logits = next_logits.step(ids)

    def generate(self, prompt_ids: Sequence[int], config: SamplingConfig | None = None) -> list[int]:
        return [t.id for t in self.stream(prompt_ids, config)]


class _LogitsSource:
    """Next-token logits for a growing sequence, with or without the KV cache."""

    def __init__(self, model: nn.Module, context_length: int, use_cache: bool, device: torch.device) -> None:
        self.model, self.context_length, self.use_cache, self.device = model, context_length, use_cache, device
        self.cache = None

    def _run(self, ids: Sequence[int]) -> torch.Tensor:
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.device)  # (1, T)
        return self.model(x, self.cache)[:, -1, :].float()  # (1, V): logits for the next position (bf16 weights too)

    def prefill(self, ids: list[int]) -> torch.Tensor:
        if self.use_cache:
            self.cache = self.model.new_cache(1)
        return self._run(ids)

    def step(self, ids: list[int]) -> torch.Tensor:
        if not self.use_cache:
            return self._run(ids[-self.context_length :])
        if self.cache.length >= self.context_length:  # full: restart from the most recent half
            return self.prefill(ids[-(self.context_length // 2) :])
        return self._run(ids[-1:])
