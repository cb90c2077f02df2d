"""Beam search for decoder-only models, on the rows of a :class:`~lmforge.infer.batch.BatchEngine`.

Greedy decoding commits to the most likely token at every step; beam search keeps the ``width``
most likely *sequences* so far (the beams). Each step runs all beams through the model in one
batched forward pass (they are rows of the engine's slot cache), scores every beam x token
continuation by its summed log-probability, and keeps the best ``width`` that go on. A
continuation that ends (a stop token, or the last allowed token) becomes a finished hypothesis,
ranked by ``sum of log-probs / generated_length ** length_penalty``: 1.0 is the average log-prob
per token, 0 the plain sum (which favours short replies), > 1 favours longer ones.

With ``early_stopping`` the search ends as soon as ``width`` hypotheses are finished; without
it, it goes on while a running beam could still beat the worst finished one (judged at the
current length). The rules, including which candidates may finish (only those ranked within
the best ``width`` of a step), follow Hugging Face ``generate(num_beams=...)``, which the tests
compare against.

Each surviving beam's cache moves to its continuation's row (``SlotKVCache.copy_slots``); the
search holds ``width`` slots for its whole length, and runs without other rows in its steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from lmforge.errors import LmforgeError
from lmforge.infer.batch import BatchEngine


@dataclass(frozen=True)
class BeamConfig:
    width: int = 4
    max_new_tokens: int = 64
    length_penalty: float = 1.0
    early_stopping: bool = True
    stop_tokens: frozenset[int] = field(default_factory=frozenset)

    def validate(self) -> None:
        if self.width < 1:
            raise LmforgeError(f"the beam width must be >= 1, got {self.width}")
        if self.max_new_tokens < 1:
            raise LmforgeError(f"beam search needs max_new_tokens >= 1, got {self.max_new_tokens}")


@torch.inference_mode()
def beam_search(engine: BatchEngine, prompt_ids: Sequence[int], config: BeamConfig) -> list[int]:
    """The best hypothesis's new tokens (without its stop token)."""
    config.validate()
    if not prompt_ids or len(prompt_ids) + config.max_new_tokens > engine.max_len:
        raise LmforgeError(f"the prompt ({len(prompt_ids)} tokens) plus max_new_tokens ({config.max_new_tokens}) "
                           f"must be 1 to {engine.max_len} tokens")
    width = config.width
    slots = engine.take_slots(width)
    try:
        for slot in slots:
            engine.cache.clear(slot)
        x = torch.tensor([list(prompt_ids)], device=engine.device)  # (1, T)
        logits = engine.model(x, engine.cache.rows(slots[:1]))[:, -1].float()  # (1, V): one beam to start
        beams: list[list[int]] = [[]]
        scores = torch.zeros(1, device=engine.device)  # (beams,) summed log-probs
        finished: list[tuple[float, list[int]]] = []  # (normalized score, tokens), best first
        keep = max(2, 1 + len(config.stop_tokens)) * width  # enough that `width` can go on after some end
        for step in range(config.max_new_tokens):
            total = scores[:, None] + torch.log_softmax(logits, dim=-1)  # (beams, V)
            vocab = total.shape[-1]
            top_scores, top_index = torch.topk(total.flatten(), min(keep, total.numel()))
            last = step == config.max_new_tokens - 1
            going_on = []  # (score, parent beam, token) in rank order
            for rank, (score, index) in enumerate(zip(top_scores.tolist(), top_index.tolist(), strict=True)):
                parent, token = divmod(index, vocab)
                if token in config.stop_tokens or last:
                    if rank < width:  # only a candidate among the step's best `width` may finish
                        finished.append((score / (step + 1) ** config.length_penalty, beams[parent] + [token]))
                elif len(going_on) < width:
                    going_on.append((score, parent, token))
            finished = sorted(finished, key=lambda f: -f[0])[:width]
            if last or not going_on or _done(finished, going_on[0][0], step + 1, config):
                break
            parents = [p for _, p, _ in going_on]
            engine.cache.copy_slots(slots[: len(going_on)], [slots[p] for p in parents])
            beams = [beams[p] + [t] for _, p, t in going_on]
            scores = torch.tensor([s for s, _, _ in going_on], device=engine.device)
            x = torch.tensor([[t] for _, _, t in going_on], device=engine.device)  # (beams, 1)
            logits = engine.model(x, engine.cache.rows(slots[: len(going_on)]))[:, -1].float()  # (beams, V)
    finally:
        engine.release_slots(slots)
    best = finished[0][1]
    return best[:-1] if best and best[-1] in config.stop_tokens else best


def _done(finished: list[tuple[float, list[int]]], best_running: float, length: int, config: BeamConfig) -> bool:
    """``width`` hypotheses finished, and (without early stopping) no running beam can beat the worst of them."""
    if len(finished) < config.width:
        return False
    return config.early_stopping or best_running / length ** config.length_penalty <= finished[-1][0]
