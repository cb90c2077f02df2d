"""Training a byte-level BPE: learn which adjacent token pairs to merge, in order.

The algorithm, for a learner
----------------------------
Start with one token per byte (ids 0..255). Repeat until the vocabulary is
big enough: find the adjacent pair of tokens that occurs most often in the
corpus, give the concatenation a new id, and replace that pair everywhere.
The ordered list of merges *is* the tokenizer: encoding replays it.

Done naively, every merge rescans the whole corpus (1 M characters x 4 k
merges = billions of steps). Three observations make it fast:

1. **Count words, not text.** Merges never cross pre-token boundaries, so the
   corpus collapses to ``{word: frequency}``; tinyshakespeare's 300 k words
   are only ~15 k distinct ones.
2. **Update counts incrementally.** A merge of ``(a, b)`` only changes pair
   counts in words that contain ``(a, b)``. We keep ``pair -> count`` and an
   index ``pair -> {words containing it}``, and for each affected word we
   subtract its old pairs and add its new ones (times the word's frequency).
3. **Find the best pair with a heap and lazy invalidation.** Counts change
   all the time, and removing arbitrary heap entries is expensive, so we just
   push a fresh entry whenever a count *grows* and, on pop, discard entries
   whose recorded count no longer matches (re-pushing the true, smaller
   count). Every live pair always has an entry at least as large as its real
   count, so the first entry that matches is the true maximum.

Ties (equal counts) go to the smallest ``(left id, right id)``, i.e. to
older / lower-byte tokens first, which makes training fully deterministic.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise

from lmforge.errors import ConfigError, DataError
from lmforge.tokenizers.pretokenize import gpt2_split, strip_specials


@dataclass
class BpeTrainResult:
    """What training learned: token bytes by id, and merges in rank order."""

    #: id -> bytes; ids 0..255 are the single bytes
    tokens: list[bytes]
    #: ``merges[r] = (left_id, right_id)`` is the merge of rank ``r``
    merges: list[tuple[int, int]]


def count_words(texts: Iterable[str], special_tokens: Iterable[str] = ()) -> Counter[str]:
    """Pre-tokenize every text once and count each distinct word.

    Special-token strings are cut out first so a document separator in the
    corpus is never learned as ordinary text.
    """
    counts: Counter[str] = Counter()
    for piece in strip_specials(texts, special_tokens):
        counts.update(gpt2_split(piece))
    return counts


def merge_pair(word: list[int], a: int, b: int, new: int) -> list[int]:
    """Replace every ``a b`` in ``word`` (left to right, non-overlapping) by ``new``."""
    out: list[int] = []
    i, n = 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def learn_bpe(
    word_counts: dict[str, int], n_tokens: int, progress: bool = False, reserved_ids: int = 0
) -> BpeTrainResult:
    """Learn merges until there are ``n_tokens`` distinct tokens (256 bytes included).

    Raises :class:`DataError` if the corpus runs out of pairs first;
    ``reserved_ids`` (ids kept for special tokens) only makes that message
    speak in terms of the caller's total vocab size.
    """
    if n_tokens < 256:
        raise ConfigError(f"a byte-level BPE needs at least 256 tokens (one per byte), got {n_tokens}")
    if not word_counts:
        raise DataError("the training corpus is empty: there is no text to learn merges from")

    # Each distinct word as a list of token ids (initially its UTF-8 bytes).
    words: list[list[int]] = [list(w.encode("utf-8")) for w in word_counts]
    freqs: list[int] = list(word_counts.values())

    pair_counts: dict[tuple[int, int], int] = defaultdict(int)
    pair_words: dict[tuple[int, int], set[int]] = defaultdict(set)
    for wi, word in enumerate(words):
        f = freqs[wi]
        for pair in pairwise(word):
            pair_counts[pair] += f
            pair_words[pair].add(wi)

    # Min-heap of (-count, left, right): most frequent first, then smallest ids.
    heap = [(-c, a, b) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)

    tokens: list[bytes] = [bytes([b]) for b in range(256)]
    token_ids: dict[bytes, int] = {t: i for i, t in enumerate(tokens)}
    merges: list[tuple[int, int]] = []

    with _progress_bar(progress, total=n_tokens - 256) as advance:
        while len(tokens) < n_tokens:
            best = _pop_best(heap, pair_counts)
            if best is None:
                raise DataError(
                    f"the training corpus is too small for a vocab size of {n_tokens + reserved_ids}: "
                    f"it ran out of pairs to merge at {len(tokens) + reserved_ids}; "
                    "use a smaller vocab size or more text"
                )
            a, b = best
            merged = tokens[a] + tokens[b]
            # Two different pairs can spell the same bytes ("a"+"bc", "ab"+"c"); they share one id.
            new = token_ids.get(merged)
            if new is None:
                new = len(tokens)
                tokens.append(merged)
                token_ids[merged] = new
                advance()
            merges.append(best)
            _apply_merge(best, new, words, freqs, pair_counts, pair_words, heap)

    return BpeTrainResult(tokens=tokens, merges=merges)


def _pop_best(
    heap: list[tuple[int, int, int]], pair_counts: dict[tuple[int, int], int]
) -> tuple[int, int] | None:
    """Pop the most frequent pair, skipping stale heap entries (lazy invalidation)."""
    while heap:
        neg, a, b = heapq.heappop(heap)
        current = pair_counts.get((a, b), 0)
        if current == -neg:
            return a, b
        if current > 0:  # stale but still alive: re-queue with its true (smaller) count
            heapq.heappush(heap, (-current, a, b))
    return None


def _apply_merge(
    pair: tuple[int, int],
    new: int,
    words: list[list[int]],
    freqs: list[int],
    pair_counts: dict[tuple[int, int], int],
    pair_words: dict[tuple[int, int], set[int]],
    heap: list[tuple[int, int, int]],
) -> None:
    """Merge ``pair`` into ``new`` in every word containing it, updating counts and index."""
    a, b = pair
    delta: dict[tuple[int, int], int] = defaultdict(int)
    # The index is never pruned, so some of these words may no longer contain the pair.
    for wi in pair_words.pop(pair):
        word = words[wi]
        merged = merge_pair(word, a, b, new)
        if len(merged) == len(word):
            continue
        f = freqs[wi]
        for p in pairwise(word):
            delta[p] -= f
        for p in pairwise(merged):
            delta[p] += f
            pair_words[p].add(wi)
        words[wi] = merged

    for p, d in delta.items():
        if d == 0:
            continue
        count = pair_counts[p] + d
        if count > 0:
            pair_counts[p] = count
            if d > 0:  # grown: needs a fresh heap entry; shrunk ones are fixed lazily on pop
                heapq.heappush(heap, (-count, p[0], p[1]))
        else:
            del pair_counts[p]
    pair_counts.pop(pair, None)


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[], None]]:
    """Yield an ``advance()`` callable; a rich progress bar when ``enabled``."""
    if not enabled:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("training BPE"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task("merges", total=total)
        yield lambda: bar.advance(task)
