"""The corruptions behind encoder pretraining, on plain tensors.

- :func:`mlm_mask` (BERT): pick ~15% of the tokens as prediction targets; of
  those, 80% become ``[MASK]``, 10% a random token and 10% stay unchanged. The
  random and unchanged cases matter because ``[MASK]`` never occurs at
  fine-tuning time: the model must build a good representation of *every*
  token, not only of masked ones.
- :func:`random_spans_noise_mask` + :func:`span_corrupt` (T5): drop ~15% of
  the tokens in spans of mean length 3; the input keeps one sentinel per span,
  the target lists each sentinel followed by the tokens it hides::

      input : Thank you <X> me to your party <Y> week .
      target: <X> for inviting <Y> last <Z>

All randomness comes from an explicit ``torch.Generator``, so a seed fixes
every mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lmforge.errors import ConfigError

#: label value ignored by ``F.cross_entropy`` (positions that are not prediction targets)
IGNORE = -100


@dataclass(frozen=True)
class SpecialIds:
    """Ids the objectives append after a tokenizer's vocabulary.

    Pretraining on any tokenizer (char-level, lmforge's BPE) needs ``[PAD]``,
    ``[CLS]``, ``[SEP]``, ``[MASK]`` and T5's sentinels; rather than requiring
    a tokenizer that has them, they get the ids ``text_vocab``, ``text_vocab+1``, ...
    """

    text_vocab: int
    n_sentinels: int = 0

    @property
    def pad(self) -> int:
        return self.text_vocab

    @property
    def cls(self) -> int:
        return self.text_vocab + 1

    @property
    def sep(self) -> int:
        return self.text_vocab + 2

    @property
    def mask(self) -> int:
        return self.text_vocab + 3

    def sentinel(self, k: int) -> int:
        """Id of the ``k``-th sentinel (``<extra_id_k>`` in T5)."""
        if not 0 <= k < self.n_sentinels:
            raise ConfigError(f"sentinel {k} requested, but only {self.n_sentinels} are reserved")
        return self.text_vocab + 4 + k

    @property
    def vocab_size(self) -> int:
        """Model vocabulary: text tokens + the four specials + sentinels."""
        return self.text_vocab + 4 + self.n_sentinels


def mlm_mask(
    ids: torch.Tensor,
    mask_id: int,
    n_random: int,
    generator: torch.Generator,
    maskable: torch.Tensor | None = None,
    prob: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``ids`` (B, T) -> ``(inputs, labels)``, both (B, T).

    Each position where ``maskable`` is true is selected with probability
    ``prob``; ``labels`` holds the original id there and :data:`IGNORE`
    elsewhere. Selected inputs become ``mask_id`` (80%), a random id in
    ``[0, n_random)`` (10%) or stay as they are (10%).
    """
    if not 0.0 < prob < 1.0:
        raise ConfigError(f"masking probability must be in (0, 1), got {prob}")
    if maskable is None:
        maskable = torch.ones_like(ids, dtype=torch.bool)
    selected = (torch.rand(ids.shape, generator=generator) < prob) & maskable
    labels = torch.where(selected, ids, IGNORE)
    action = torch.rand(ids.shape, generator=generator)  # < 0.8: [MASK]; < 0.9: random; else unchanged
    random_ids = torch.randint(0, n_random, ids.shape, generator=generator)
    inputs = torch.where(selected & (action < 0.8), mask_id, ids)
    inputs = torch.where(selected & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    return inputs, labels


def _random_segmentation(n_items: int, n_segments: int, generator: torch.Generator) -> torch.Tensor:
    """Split ``n_items`` into ``n_segments`` random positive lengths that sum to ``n_items``."""
    cuts = torch.randperm(n_items - 1, generator=generator)[: n_segments - 1] + 1  # distinct cut points
    bounds = torch.cat([torch.tensor([0]), cuts.sort().values, torch.tensor([n_items])])
    return bounds.diff()


def span_counts(length: int, noise_density: float = 0.15, mean_span_length: float = 3.0) -> tuple[int, int]:
    """``(noise tokens, spans)`` for a sequence of ``length``; fixed for a given length, so batches stay rectangular."""
    n_noise = min(max(round(length * noise_density), 1), length - 1)
    n_spans = min(max(round(n_noise / mean_span_length), 1), length - n_noise)
    return n_noise, n_spans


def random_spans_noise_mask(
    length: int, generator: torch.Generator, noise_density: float = 0.15, mean_span_length: float = 3.0
) -> torch.Tensor:
    """T5's noise mask (``length``,): alternating kept / dropped spans, starting with a kept one.

    Exactly ``span_counts(...)`` noise tokens in that many spans, so every
    sequence of a length corrupts to the same input and target lengths.
    """
    if length < 2:
        raise ConfigError(f"span corruption needs at least 2 tokens, got {length}")
    n_noise, n_spans = span_counts(length, noise_density, mean_span_length)
    noise_lengths = _random_segmentation(n_noise, n_spans, generator)
    keep_lengths = _random_segmentation(length - n_noise, n_spans, generator)
    # interleave: keep, noise, keep, noise, ...
    lengths = torch.stack([keep_lengths, noise_lengths], dim=1).flatten()
    is_noise = torch.tensor([False, True]).repeat(n_spans)
    return is_noise.repeat_interleave(lengths)


def span_corrupt(
    ids: torch.Tensor, noise_mask: torch.Tensor, sentinel_ids: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sequence (T,) and its noise mask -> ``(inputs, targets)``.

    ``inputs``: the kept tokens, each dropped span replaced by the next sentinel.
    ``targets``: each sentinel followed by the tokens it replaced, then one
    more sentinel that marks the end.
    """
    starts = noise_mask & ~torch.cat([torch.tensor([False]), noise_mask[:-1]])  # first token of each span
    n_spans = int(starts.sum())
    if n_spans + 1 > len(sentinel_ids):
        raise ConfigError(f"{n_spans} noise spans need {n_spans + 1} sentinels, only {len(sentinel_ids)} given")
    sentinels = torch.tensor(sentinel_ids[: n_spans + 1], dtype=ids.dtype)
    span_index = starts.cumsum(0) - 1  # which span each position belongs to (for noise positions)
    # inputs: keep non-noise tokens; a span start becomes its sentinel; other noise tokens vanish
    marked = torch.where(starts, sentinels[span_index.clamp(min=0)], ids)
    inputs = marked[~noise_mask | starts]
    # targets: noise tokens, each span preceded by its sentinel, plus a final sentinel
    pieces = []
    for k, span in enumerate(torch.tensor_split(ids[noise_mask], _span_bounds(noise_mask, starts))):
        pieces += [sentinels[k : k + 1], span]
    targets = torch.cat([*pieces, sentinels[n_spans:]])
    return inputs, targets


def _span_bounds(noise_mask: torch.Tensor, starts: torch.Tensor) -> list[int]:
    """Where each span (after the first) begins within the concatenated noise tokens."""
    starts_among_noise = starts[noise_mask].nonzero().flatten().tolist()
    return starts_among_noise[1:]
