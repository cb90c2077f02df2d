"""Many sequences decoded together: one forward pass per step for every active sequence.

Why: decoding a small model on a CPU is memory-bound. A step reads every weight once whether it
serves one sequence or eight, so eight sequences in one pass cost little more than one (a server's
throughput comes from exactly this; vLLM and llama.cpp's server call it continuous batching).

Usage::

    engine = BatchEngine(model, max_batch=8)
    outputs = engine.generate_many([[1, 2, 3], [4, 5]], [SamplingConfig(temperature=0), SamplingConfig(seed=1)])

or step by step, as the server drives it (sequences join and leave between any two steps)::

    row = engine.add(prompt_ids, config)      # prefill: the prompt runs alone, into a free slot
    engine.choose(row)                        # optional: its first token now, from the prefill's logits
    for event in engine.step():               # one batched forward for all rows, then a token for each
        event.row, event.token, event.error   # token None and row.finished set: the row left the batch
    engine.cancel(row)                        # a client went away: free its slot now

Layout: *ragged*, not left-padded. Each sequence owns one slot of a pre-allocated
:class:`~lmforge.models.blocks.kv_cache.SlotKVCache`, its keys stored at the indices of their
positions. One step's rows then have different lengths, so positions are per row and a per-row
mask hides everything past each row's own end (``SlotRows``). Left padding would give every row
the same length by padding short prompts on the left: simpler for a fixed batch, but a request
that joins later must be padded to the others' length (or everybody's cache shifted), and the pads
cost attention work on every step. With slots, nothing moves when a sequence joins or leaves.
Prompts are prefilled one at a time: a prefill is already a matrix-matrix product (compute-bound),
so batching prefills saves little, while it would make a new request wait for others to arrive.

Per row: its own :class:`SamplingConfig` (temperature, top-k/p, min-p, repetition/frequency/presence
penalties, seed, stop tokens, max tokens, logprobs). A failure while choosing one row's token (a bad
config, an injected fault) ends that row with the error; the others go on. Stop *strings* need text: the text layer
(:class:`~lmforge.infer.chat.TextStreamer`) finds them and calls :meth:`BatchEngine.cancel`.

A greedy row's tokens are those of :class:`~lmforge.infer.engine.GenerationEngine` for the same
prompt, as long as prompt + max_new_tokens fits the slot (the single-sequence engine slides its
window past the context length; slots do not: a longer request is refused when it is added).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from lmforge.errors import LmforgeError
from lmforge.infer.engine import GeneratedToken, describe_token, seeded_generator
from lmforge.infer.sampling import SamplingConfig, apply_penalties, choose_tokens
from lmforge.models.base import CausalLM
from lmforge.models.blocks.kv_cache import SlotKVCache


class SlotsBusy(LmforgeError):
    """Fewer slots are free than a caller asked for (a server answers "busy, retry", not "bad request")."""


@dataclass(eq=False)
class Row:
    """One sequence in the batch: its slot, settings, the ids so far and the logits for its next token."""

    slot: int
    config: SamplingConfig
    ids: list[int]
    generator: torch.Generator | None
    logits: torch.Tensor | None = None  # (V,) next-token logits, set by the prefill or the last step
    generated: list[int] = field(default_factory=list)
    finished: bool = False
    finish_reason: str | None = None  # "stop" (a stop token), "length" (max_new_tokens), "cancelled", "error"


@dataclass
class StepEvent:
    """What one step did to one row: a new token, or the row left the batch (``token`` None)."""

    row: Row
    token: GeneratedToken | None
    error: Exception | None = None


class BatchEngine:
    """Decodes up to ``max_batch`` sequences of a :class:`CausalLM` at once, each in a cache slot of
    ``max_len`` positions (default: the model's context length)."""

    def __init__(self, model: CausalLM, max_batch: int = 8, max_len: int | None = None) -> None:
        if not isinstance(model, CausalLM):
            raise LmforgeError(f"batched decoding needs a Transformer decoder with a KV cache; "
                               f"a {model.family!r} model has none (use GenerationEngine)")
        if max_batch < 1:
            raise LmforgeError(f"max_batch must be >= 1, got {max_batch}")
        self.model = model.eval()
        self.max_len = min(max_len or model.context_length, model.context_length)
        weight = model.tok_emb.weight
        n_kv_heads, head_dim = model.kv_shape()
        self.cache = SlotKVCache(model.config.n_layers, max_batch, n_kv_heads, head_dim, self.max_len,
                                 weight.dtype, weight.device)
        self.device = weight.device
        self.rows: list[Row] = []  # active rows, in the order they joined
        self._free = list(range(max_batch - 1, -1, -1))  # free slots; pop() takes the lowest

    @property
    def max_batch(self) -> int:
        return self.cache.n_slots

    @property
    def free_slots(self) -> int:
        return len(self._free)

    def occupancy(self) -> float:
        """Fraction of the cache's positions that hold some active row's keys."""
        return sum(self.cache.lengths[r.slot] for r in self.rows) / (self.cache.n_slots * self.max_len)

    @torch.inference_mode()
    def add(self, prompt_ids: Sequence[int], config: SamplingConfig | None = None) -> Row:
        """Prefill ``prompt_ids`` into a free slot; the row's first token comes from the next :meth:`step`."""
        config = config or SamplingConfig()
        config.validate()
        if not prompt_ids:
            raise LmforgeError("the prompt is empty: give at least one token")
        if len(prompt_ids) + config.max_new_tokens > self.max_len:
            raise LmforgeError(f"the prompt has {len(prompt_ids)} tokens and max_new_tokens is "
                               f"{config.max_new_tokens}: together more than the {self.max_len} positions of a slot")
        if not self._free:
            raise LmforgeError(f"all {self.max_batch} rows of the batch are busy")
        slot = self._free.pop()
        row = Row(slot, config, list(prompt_ids), seeded_generator(config.seed, self.device))
        try:
            self.cache.clear(slot)
            x = torch.tensor([row.ids], dtype=torch.long, device=self.device)  # (1, T)
            row.logits = self.model(x, self.cache.rows([slot]))[0, -1]  # (V,)
        except BaseException:
            self._free.append(slot)
            raise
        self.rows.append(row)
        return row

    def take_slots(self, n: int) -> list[int]:
        """Reserve ``n`` free slots for a caller that drives them itself (beam search); give them back
        with :meth:`release_slots`."""
        if n > len(self._free):
            raise SlotsBusy(f"{n} rows are needed but only {len(self._free)} of {self.max_batch} are free")
        return [self._free.pop() for _ in range(n)]

    def release_slots(self, slots: Sequence[int]) -> None:
        self._free.extend(slots)

    def cancel(self, row: Row, reason: str = "cancelled") -> None:
        """Remove ``row`` from the batch now and free its slot (no-op when it already left)."""
        if row.finished:
            return
        row.finished, row.finish_reason, row.logits = True, reason, None
        self.rows.remove(row)
        self._free.append(row.slot)

    @torch.inference_mode()
    def step(self) -> list[StepEvent]:
        """One batched forward over every row's newest token (a row that just joined needs none: its prefill
        gave its logits), then one token chosen per row; rows that finish leave."""
        events: list[StepEvent] = []
        if behind := [row for row in self.rows if row.logits is None]:
            self._forward(behind, events)
        for row in list(self.rows):
            events += self.choose(row)
        return events

    def choose(self, row: Row) -> list[StepEvent]:
        """Choose ``row``'s next token from the logits it has (after its prefill or a step), no forward pass.

        The server calls this right after :meth:`add`, so a new request's first token does not wait for
        a batched step; its next forward then runs with everybody else's in :meth:`step`.
        """
        try:
            token = self._choose(row)
        except Exception as e:  # this row's fault: it leaves with the error, the batch goes on
            self.cancel(row, "error")
            return [StepEvent(row, None, e)]
        if token is None:
            return [StepEvent(row, None)]
        row.logits = None  # spent: the next step runs the new token through the model
        return [StepEvent(row, token)] + ([StepEvent(row, None)] if row.finished else [])

    def _choose(self, row: Row) -> GeneratedToken | None:
        """Sample ``row``'s next token; None (and the row finished) at a stop token or max_new_tokens."""
        if len(row.generated) >= row.config.max_new_tokens:
            self.cancel(row, "length")
            return None
        prompt = row.ids[: len(row.ids) - len(row.generated)]
        scores = apply_penalties(row.logits[None], prompt, row.generated, row.config)
        token = int(choose_tokens(scores, row.config, row.generator)[0])
        if token in row.config.stop_tokens:
            self.cancel(row, "stop")
            return None
        generated = describe_token(row.logits, token, row.config.top_logprobs)
        row.ids.append(token)
        row.generated.append(token)
        if len(row.generated) >= row.config.max_new_tokens:
            self.cancel(row, "length")
        return generated

    def _forward(self, rows: list[Row], events: list[StepEvent]) -> None:
        """One forward pass over the newest token of every row in ``rows`` (each at its own position)."""
        x = torch.tensor([[r.ids[-1]] for r in rows], dtype=torch.long, device=self.device)  # (B, 1)
        try:
            logits = self.model(x, self.cache.rows([r.slot for r in rows]))[:, -1]  # (B, V)
        except Exception as e:  # shared by every row: all of them fail with it
            for row in rows:
                self.cancel(row, "error")
                events.append(StepEvent(row, None, e))
            return
        for i, row in enumerate(rows):
            row.logits = logits[i]

    def generate_many(self, prompts: Sequence[Sequence[int]],
                      configs: SamplingConfig | Sequence[SamplingConfig] | None = None) -> list[list[int]]:
        """New token ids for every prompt (one config for all, or one per prompt), ``max_batch`` rows at a time:
        a prompt joins as soon as a row is free."""
        if configs is None or isinstance(configs, SamplingConfig):
            configs = [configs or SamplingConfig()] * len(prompts)
        if len(configs) != len(prompts):
            raise LmforgeError(f"{len(prompts)} prompts but {len(configs)} sampling configs")
        outputs: list[list[int]] = [[] for _ in prompts]
        index: dict[int, int] = {}  # id(row) -> prompt index
        waiting = list(range(len(prompts)))[::-1]
        while waiting or self.rows:
            while waiting and self._free:
                i = waiting.pop()
                index[id(self.add(prompts[i], configs[i]))] = i
            for event in self.step():
                if event.error is not None:
                    for row in list(self.rows):
                        self.cancel(row)
                    raise event.error
                if event.token is not None:
                    outputs[index[id(event.row)]].append(event.token.id)
        return outputs
