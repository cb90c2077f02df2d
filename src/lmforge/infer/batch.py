"""Many sequences decoded together: one forward pass per step for every active sequence.

Why: decoding a small model on a CPU is memory-bound. A step reads every weight once whether it
serves one sequence or eight, so eight sequences in one pass cost little more than one (a server's
throughput comes from exactly this; vLLM and llama.cpp's server call it continuous batching).

Usage::

    engine = BatchEngine(model, max_batch=8)
    outputs = engine.generate_many([[1, 2, 3], [4, 5]], [SamplingConfig(temperature=0), SamplingConfig(seed=1)])

or step by step, as the server drives it (sequences join and leave between any two steps)::

    row = engine.add(prompt_ids, config)      # takes a free slot; the prompt waits for the next step
    for event in engine.step():               # prefill of the new prompts, one forward for the other rows,
        event.row, event.token, event.error   #   then a token for each; token None: the row left the batch
    engine.cancel(row)                        # a client went away: free its slot now

Layout: *ragged*, not left-padded. Each sequence owns one slot of a pre-allocated
:class:`~lmforge.models.blocks.kv_cache.SlotKVCache`, its keys stored at the indices of their
positions. One step's rows then have different lengths, so positions are per row and a per-row
mask hides everything past each row's own end (``SlotRows``). Left padding would give every row
the same length by padding short prompts on the left: simpler for a fixed batch, but a request
that joins later must be padded to the others' length (or everybody's cache shifted), and the pads
cost attention work on every step. With slots, nothing moves when a sequence joins or leaves.

Prefill: the prompts added since the last step are read together, in one forward pass of their own,
at the start of the next step (a burst of 8 requests costs one prefill, not 8 in a row: the weights are
read once, and the matrix products run at 8x the rows). Their lengths differ, so each row's piece is
padded on the *right* to the longest: in a fresh slot, row b's real tokens sit at positions 0..L_b-1,
the mask already hides from each query the keys after it, and only L_b positions are kept
(``SlotKVCache.rows(real=...)``); the pad keys past the end are overwritten by the row's next tokens.
(Left padding would shift the positions; a packed layout, every prompt's tokens in one row with a
block-diagonal mask, saves the pads but needs a per-token slot/position map through every layer.)
Only each row's last real position goes through the LM head (the head is ~20 % of a 40-token
prefill's work). The decoding rows run in a second forward of the same step: merged into the prefill
they would be padded to the prompts' length. A long prompt would stall those rows for its whole
prefill, so one step reads at most ``prefill_tokens`` positions (rows x padded length) of prompts,
oldest first: a longer prompt is read in chunks, one per step, and the decoding rows get a token
between chunks.

Prefix cache: one extra slot keeps the keys of the last prompt prefilled. A new prompt that begins
like it (a chat template's system prompt, the earlier turns of the same conversation) starts with a
copy of those positions and reads only the rest: vLLM's automatic prefix caching, for one prefix.
The copied keys were computed in another batch, so they can differ from a fresh prefill in the last
bits of fp32 rounding, as any two batch compositions can.

Per row: its own :class:`SamplingConfig` (temperature, top-k/p, min-p, repetition/frequency/presence
penalties, seed, stop tokens, max tokens, logprobs). A failure while choosing one row's token (a bad
config, an injected fault) ends that row with the error; the others go on. Stop *strings* need text: the text layer
(:class:`~lmforge.infer.chat.TextStreamer`) finds them and calls :meth:`BatchEngine.cancel`.

A greedy row's tokens are those of :class:`~lmforge.infer.engine.GenerationEngine` for the same
prompt, as long as prompt + max_new_tokens fits the slot (the single-sequence engine slides its
window past the context length; slots do not: a longer request is refused when it is added).
"""

from __future__ import annotations

import heapq
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

    def __init__(self, model: CausalLM, max_batch: int = 8, max_len: int | None = None,
                 prefill_tokens: int = 512, prefix_cache: bool = True) -> None:
        if not isinstance(model, CausalLM):
            raise LmforgeError(f"batched decoding needs a Transformer decoder with a KV cache; "
                               f"a {model.family!r} model has none (use GenerationEngine)")
        if max_batch < 1 or prefill_tokens < 1:
            raise LmforgeError(f"max_batch and prefill_tokens must be >= 1, got {max_batch}, {prefill_tokens}")
        self.prefill_tokens = prefill_tokens
        self.model = model.eval()
        self.max_len = min(max_len or model.context_length, model.context_length)
        weight = model.tok_emb.weight
        n_kv_heads, head_dim = model.kv_shape()
        self.cache = SlotKVCache(model.config.n_layers, max_batch + prefix_cache, n_kv_heads, head_dim,
                                 self.max_len, weight.dtype, weight.device)
        self.device = weight.device
        self.rows: list[Row] = []  # active rows, in the order they joined
        self._free = list(range(max_batch))  # free slots, a min-heap: the lowest is taken first (see _take)
        self._max_batch = max_batch
        self._prefix_slot = max_batch if prefix_cache else None  # the last slot: the last prompt's keys
        self._prefix: list[int] = []  # ... and its ids

    @property
    def max_batch(self) -> int:
        return self._max_batch

    @property
    def free_slots(self) -> int:
        return len(self._free)

    def occupancy(self) -> float:
        """Fraction of the cache's positions that hold some active row's keys."""
        return sum(self.cache.lengths[r.slot] for r in self.rows) / (self.max_batch * self.max_len)

    def add(self, prompt_ids: Sequence[int], config: SamplingConfig | None = None) -> Row:
        """Give ``prompt_ids`` a free slot; the next :meth:`step` prefills it (with every prompt added before
        that step) and chooses its first token."""
        config = config or SamplingConfig()
        config.validate()
        if not prompt_ids:
            raise LmforgeError("the prompt is empty: give at least one token")
        if len(prompt_ids) + config.max_new_tokens > self.max_len:
            raise LmforgeError(f"the prompt has {len(prompt_ids)} tokens and max_new_tokens is "
                               f"{config.max_new_tokens}: together more than the {self.max_len} positions of a slot")
        if not self._free:
            raise LmforgeError(f"all {self.max_batch} rows of the batch are busy")
        row = Row(self._take(), config, list(prompt_ids), seeded_generator(config.seed, self.device))
        self.cache.clear(row.slot)
        if shared := self._shared_prefix(row.ids):
            self.cache.copy_prefix(row.slot, self._prefix_slot, shared)
        self.rows.append(row)
        return row

    def take_slots(self, n: int) -> list[int]:
        """Reserve ``n`` free slots for a caller that drives them itself (beam search); give them back
        with :meth:`release_slots`."""
        if n > len(self._free):
            raise SlotsBusy(f"{n} rows are needed but only {len(self._free)} of {self.max_batch} are free")
        return [self._take() for _ in range(n)]

    def release_slots(self, slots: Sequence[int]) -> None:
        for slot in slots:
            heapq.heappush(self._free, slot)

    def _take(self) -> int:
        """The lowest free slot. Active rows then pack the first slots, and a step over slots 0..B-1 (read in slot
        order, see :meth:`_by_slot`) reads the cache as one view instead of gathering rows: a full copy of
        every layer's keys and values per step, ~12 % of a batch-8 step of SmolLM2 in the server's profile."""
        return heapq.heappop(self._free)

    @staticmethod
    def _by_slot(rows: list[Row]) -> list[Row]:
        return sorted(rows, key=lambda row: row.slot)

    def cancel(self, row: Row, reason: str = "cancelled") -> None:
        """Remove ``row`` from the batch now and free its slot (no-op when it already left)."""
        if row.finished:
            return
        row.finished, row.finish_reason, row.logits = True, reason, None
        self.rows.remove(row)
        heapq.heappush(self._free, row.slot)

    @torch.inference_mode()
    def step(self) -> list[StepEvent]:
        """The waiting prompts' prefill (one forward), one forward over every other row's newest token, then
        one token chosen for every row that has its logits; rows that finish leave."""
        events: list[StepEvent] = []
        behind = [row for row in self.rows if row.logits is None]
        unread = [row for row in behind if len(row.ids) - self.cache.lengths[row.slot] > 1]  # prompts to prefill
        if unread:
            self._prefill(unread, events)
        if decoding := [row for row in behind if row not in unread]:  # one token to read (or a 1-token prompt)
            self._forward(decoding, events)
        for row in [row for row in self.rows if row.logits is not None]:
            events += self._choose_event(row)
        return events

    def _choose_event(self, row: Row) -> list[StepEvent]:
        """Choose ``row``'s next token from its logits (a failure is this row's alone: it leaves with the error)."""
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

    def _prefill(self, rows: list[Row], events: list[StepEvent]) -> None:
        """One forward over the next piece of the oldest unread prompts (see the module docstring): right-padded
        to one length, at most ``prefill_tokens`` positions; a row whose prompt is then all read gets its logits."""
        group, width = self._prefill_group(rows)
        group = self._by_slot(group)
        starts = [self.cache.lengths[r.slot] for r in group]
        pieces = [r.ids[start : start + width] for r, start in zip(group, starts, strict=True)]
        x = torch.tensor([p + [0] * (width - len(p)) for p in pieces], device=self.device)  # (B, T); pads never seen
        last = torch.tensor([len(p) - 1 for p in pieces], device=self.device)  # (B,) each row's last real position
        try:
            hidden = self.model.hidden(x, self.cache.rows([r.slot for r in group], [len(p) for p in pieces]))
            logits = self.model.lm_head(hidden[torch.arange(len(group)), last]).float()  # (B, V): where one is chosen
        except Exception as e:  # shared by the group: all of them fail with it
            for row in group:
                self.cancel(row, "error")
                events.append(StepEvent(row, None, e))
            return
        read = [i for i, row in enumerate(group) if self.cache.lengths[row.slot] == len(row.ids)]
        for i in read:  # the whole prompt is read: its first token is next
            group[i].logits = logits[i]
        if read and self._prefix_slot is not None:  # the newest prompt becomes the cached prefix
            row = max((group[i] for i in read), key=self.rows.index)  # self.rows is in joining order
            self.cache.copy_prefix(self._prefix_slot, row.slot, len(row.ids))
            self._prefix = list(row.ids)

    def _shared_prefix(self, ids: list[int]) -> int:
        """How many first ids ``ids`` shares with the cached prefix (its last id is always read: it gives logits)."""
        if self._prefix_slot is None:
            return 0
        n = 0
        for a, b in zip(ids[:-1], self._prefix, strict=False):
            if a != b:
                break
            n += 1
        return n

    def _prefill_group(self, rows: list[Row]) -> tuple[list[Row], int]:
        """The oldest rows whose pieces fit one prefill of ``prefill_tokens`` positions (rows x padded length, each
        row's padded piece inside its slot), and that length; the first row always goes (in chunks if long)."""
        group: list[Row] = []
        width = 0
        for row in rows:
            start = self.cache.lengths[row.slot]
            wider = max(width, min(len(row.ids) - start, self.prefill_tokens))
            if group and ((len(group) + 1) * wider > self.prefill_tokens
                          or max(self.cache.lengths[r.slot] for r in [*group, row]) + wider > self.max_len):
                break
            group.append(row)
            width = wider
        return group, width

    def _forward(self, rows: list[Row], events: list[StepEvent]) -> None:
        """One forward pass over the newest token of every row in ``rows`` (each at its own position; for a
        1-token prompt that is the prompt)."""
        rows = self._by_slot(rows)
        x = torch.tensor([[r.ids[-1]] for r in rows], dtype=torch.long, device=self.device)  # (B, 1)
        try:
            logits = self.model(x, self.cache.rows([r.slot for r in rows]))[:, -1].float()  # (B, V), fp32 logprobs
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
