"""``lmforge eval`` on a model directory: open the model, read the data, call the metric in ``evaluate/``.

The metrics take plain callables and ids (``evaluate`` knows no model); this module is where a
model directory meets them, checked for what the metric needs before anything runs.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from lmforge.errors import DataError
from lmforge.evaluate.choice import ChoiceResult, score_choices
from lmforge.evaluate.choice_items import read_choice_items
from lmforge.evaluate.perplexity import PerplexityResult, sliding_window_perplexity
from lmforge.infer.loading import load_model_dir
from lmforge.io import atomic_write, read_text
from lmforge.models.base import Capability


def run_perplexity(model_dir: Path, data: Path, stride: int | None = None, context_length: int | None = None,
                   batch_size: int = 4) -> PerplexityResult:
    """Perplexity of a decoder-only LM directory on a UTF-8 text file; ``context_length`` defaults to the
    model's own and may only shrink it (``stride`` defaults to half the window)."""
    model, tokenizer = load_model_dir(model_dir, Capability.GENERATE)
    window = model.context_length if context_length is None else min(context_length, model.context_length)
    text = read_text(data)
    ids = tokenizer.encode(text)
    if len(ids) < 2:
        raise DataError(f"{data}: {len(ids)} token(s); perplexity needs a text of at least 2 tokens")
    return sliding_window_perplexity(model, ids, len(text.encode("utf-8")), window,
                                     stride if stride is not None else max(1, window // 2), batch_size)


def run_choice(model_dir: Path, data: Path, limit: int | None = None, batch_size: int = 16,
               out: Path | None = None) -> ChoiceResult:
    """acc / acc_norm of a decoder-only LM directory on a multiple-choice JSONL file (HellaSwag, ARC or own
    schema, see :mod:`lmforge.evaluate.choice_items`); ``out``: one JSON line per item with its scores."""
    items = read_choice_items(data, limit)  # the data is checked before the model is loaded
    model, tokenizer = load_model_dir(model_dir, Capability.GENERATE)
    result = score_choices(model, tokenizer.encode, items, model.context_length, batch_size, str(data))
    if out is not None:
        with atomic_write(out) as f:
            f.writelines(json.dumps(dataclasses.asdict(s)) + "\n" for s in result.items)
    return result
