"""Fine-tune a sentence encoder for retrieval: (question, passage) pairs, in-batch negatives, the one Trainer.

Batches never hold the same passage twice (several questions share a paragraph in SQuAD), so no
correct passage is ever pushed away as somebody else's negative.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from lmforge.infer.sentence import SentenceEncoder
from lmforge.objectives.contrastive import PairBatch, contrastive_loss
from lmforge.tasks.batching import pad
from lmforge.tasks.training import FinetuneConfig, run_trainer
from lmforge.train.trainer import TrainResult


class DistinctPassageBatches:
    """Seeded batches of ``batch_size`` pairs whose passages are all different; position saved in checkpoints."""

    def __init__(self, pairs: Sequence[tuple[list[int], list[int], str]], batch_size: int, seed: int = 0) -> None:
        self.pairs, self.batch_size, self.seed = pairs, batch_size, seed
        self.epoch, self.offset = 0, 0
        self._batches = self._plan()

    def _plan(self) -> list[list[int]]:
        """Shuffle, then deal pairs into batches, skipping a batch that already holds the pair's passage."""
        order = list(range(len(self.pairs)))
        random.Random(self.seed + self.epoch).shuffle(order)
        batches: list[list[int]] = []
        open_batches: list[tuple[list[int], set[str]]] = []
        for i in order:
            passage = self.pairs[i][2]
            target = next((b for b in open_batches if passage not in b[1]), None)
            if target is None:
                target = ([], set())
                open_batches.append(target)
            target[0].append(i)
            target[1].add(passage)
            if len(target[0]) == self.batch_size:
                batches.append(target[0])
                open_batches.remove(target)
        return batches

    def next_batch(self) -> PairBatch:
        if self.offset >= len(self._batches):
            self.epoch, self.offset = self.epoch + 1, 0
            self._batches = self._plan()
        rows = [self.pairs[i] for i in self._batches[self.offset]]
        self.offset += 1
        query_ids, query_mask = pad([r[0] for r in rows])
        passage_ids, passage_mask = pad([r[1] for r in rows])
        return PairBatch(query_ids, query_mask, passage_ids, passage_mask)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "offset": self.offset, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.offset, self.seed = state["epoch"], state["offset"], state["seed"]
        self._batches = self._plan()


def finetune_encoder(encoder: SentenceEncoder, pairs: Sequence[tuple[str, str]], out_dir: str | Path,
                     config: FinetuneConfig, passage_tokens: int = 128,
                     console: Console | None = None) -> TrainResult:
    """Train ``encoder.model`` in place on (question, passage) pairs; passages cut to ``passage_tokens``."""
    window = encoder.max_tokens
    encoder.max_tokens = min(window, passage_tokens)  # short passages: the step costs far less, the signal stays
    encoded = [(encoder.token_ids(q)[0], encoder.token_ids(p)[0], p) for q, p in pairs]
    encoder.max_tokens = window
    batches = DistinctPassageBatches(encoded, config.batch_size, config.seed)
    encoder.model.train()
    steps = max(1, round(config.epochs * len(encoded) / config.batch_size))
    try:
        return run_trainer(encoder.model, batches, contrastive_loss, out_dir, config, steps, console)
    finally:
        encoder.model.eval()
