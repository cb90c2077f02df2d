"""Sentence vectors for many texts at once: the encoder behind ``/v1/embeddings`` and retrieval.

A model with the ``EMBED`` capability turns a padded batch into one vector per row
(``model.embed(ids, mask)``: the mean of the last hidden states over real tokens, which
is how sentence-transformers models such as all-MiniLM-L6-v2 are trained to be used).
This module feeds it well:

- **length-sorted batches**: texts are sorted by token count before batching, so each
  batch pads to a similar length and little compute goes to padding (sentence-transformers
  does the same); the vectors come back in input order;
- **padding masks**: pads get no attention and no weight in the mean;
- **truncation** to the encoder's window (``max_tokens``), counted so callers can warn;
- **normalization**: unit vectors, so a dot product is the cosine;
- **bf16 only where it is harmless**: ``precision="auto"`` picks bf16 on CPUs with native
  bf16 dot products *and* only if, on a fixed probe set, every bf16 vector keeps cosine
  >= 0.999 to its fp32 twin; otherwise fp32.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from lmforge.errors import ConfigError
from lmforge.infer.loading import load_model_dir
from lmforge.io import read_json
from lmforge.models.base import Capability, ModelBase
from lmforge.tokenizers import Tokenizer

#: bf16 vectors must stay this close (cosine) to fp32 ones for "auto" to keep bf16
BF16_MIN_COSINE = 0.999
#: sentence-transformers' file that sets the encoder's window (all-MiniLM-L6-v2: 256 tokens)
ST_CONFIG = "sentence_bert_config.json"
_PROBE = ("The quick brown fox jumps over the lazy dog.",
          "Retrieval finds the passages that answer a question before a model writes the answer.",
          "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
          "Où est la bibliothèque ? Elle est fermée le dimanche.",
          "a")


def _bf16_native() -> bool:
    """Native bf16 dot products (AVX-512-BF16 or AMX); elsewhere PyTorch emulates bf16, slowly."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


class SentenceEncoder:
    """Texts -> unit vectors (N, C), a length-sorted padded batch at a time.

    ``precision`` is ``"fp32"``, ``"bf16"`` or ``"auto"`` (see the module docstring);
    :attr:`precision` then holds the one in use.
    """

    def __init__(self, model: ModelBase, tokenizer: Tokenizer, *, max_tokens: int | None = None,
                 batch_size: int = 64, precision: str = "fp32", name: str = "model") -> None:
        model.require(Path(name), Capability.EMBED)
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.batch_size = batch_size
        self.max_tokens = min(max_tokens or model.config.context_length, model.config.context_length)
        # an encoder (BERT) is trained with its special tokens ([CLS] ... [SEP]); a causal LM gets plain ids
        self._special = Capability.GENERATE not in model.capabilities and hasattr(tokenizer, "post_process")
        self._n_special = len(tokenizer.post_process([])[0]) if self._special else 0
        if precision not in ("fp32", "bf16", "auto"):
            raise ConfigError(f"precision must be auto, fp32 or bf16; got {precision!r}")
        self.precision = self._auto_precision() if precision == "auto" else precision

    @classmethod
    def from_dir(cls, model_dir: str | Path, device: torch.device | None = None, **kwargs) -> SentenceEncoder:
        """An lmforge model directory (on ``device``; None: CPU); its window comes from
        ``sentence_bert_config.json`` when present."""
        model_dir = Path(model_dir)
        model, tokenizer = load_model_dir(model_dir, Capability.EMBED, device=device)
        if "max_tokens" not in kwargs and (model_dir / ST_CONFIG).is_file():
            kwargs["max_tokens"] = read_json(model_dir / ST_CONFIG, "sentence-transformers config").get(
                "max_seq_length")
        return cls(model, tokenizer, name=kwargs.pop("name", model_dir.resolve().name), **kwargs)

    @property
    def dim(self) -> int:
        return self.model.config.d_model

    def fingerprint(self) -> str:
        """Identifies the vectors this encoder makes (weights + window): stores refuse another one's queries."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().flatten()[:4096].cpu().numpy().tobytes())  # from any device
        return f"{self.name}:{self.dim}:{self.max_tokens}:{digest.hexdigest()[:16]}"

    def token_ids(self, text: str) -> tuple[list[int], bool]:
        """The ids the model sees for ``text`` (special tokens added) and whether they were truncated."""
        ids = self.tokenizer.encode(text)
        room = self.max_tokens - self._n_special
        truncated = len(ids) > room
        ids = ids[:room]
        return (self.tokenizer.post_process(ids)[0] if self._special else ids), truncated

    def encode(self, texts: Sequence[str], on_truncate: Callable[[int], None] | None = None,
               on_batch: Callable[[int], None] | None = None) -> torch.Tensor:
        """Unit vectors (N, C) in input order; ``on_truncate(i)`` for each text cut to the window."""
        batch = []
        for i, text in enumerate(texts):
            ids, truncated = self.token_ids(text)
            if truncated and on_truncate is not None:
                on_truncate(i)
            batch.append(ids)
        return self.encode_ids(batch, on_batch)

    @torch.inference_mode()
    def encode_ids(self, batch: Sequence[Sequence[int]], on_batch: Callable[[int], None] | None = None,
                   precision: str | None = None) -> torch.Tensor:
        """Unit vectors (N, C) for token-id lists (each 1..max_tokens long), in input order."""
        precision = precision or self.precision
        device = next(self.model.parameters()).device
        out = torch.empty(len(batch), self.dim)
        order = sorted(range(len(batch)), key=lambda i: len(batch[i]), reverse=True)  # longest first
        cast = torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = len(batch[rows[0]])
            ids = torch.zeros(len(rows), width, dtype=torch.long)  # (B, T), pads are 0 and masked out
            mask = torch.zeros(len(rows), width, dtype=torch.long)  # (B, T), 1 = real token
            for r, i in enumerate(rows):
                ids[r, :len(batch[i])] = torch.as_tensor(batch[i])
                mask[r, :len(batch[i])] = 1
            with cast:
                vectors = self.model.embed(ids.to(device), mask.to(device))  # (B, C)
            out[rows] = F.normalize(vectors.float(), dim=-1).cpu()
            if on_batch is not None:
                on_batch(len(rows))
        return out

    def _auto_precision(self) -> str:
        """bf16 where the CPU does it natively and the probe vectors keep cosine >= BF16_MIN_COSINE."""
        if next(self.model.parameters()).device.type == "cpu" and not _bf16_native():
            return "fp32"
        probe = [self.token_ids(t)[0] for t in _PROBE]
        cosine = (self.encode_ids(probe, precision="fp32") * self.encode_ids(probe, precision="bf16")).sum(-1)
        return "bf16" if cosine.min().item() >= BF16_MIN_COSINE else "fp32"
