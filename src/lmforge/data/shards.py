"""Tokenize text files once into flat binary token shards plus ``meta.json``.

Layout of a data directory::

    meta.json          what is here: tokenizer, dtype, shard files and token counts
    tokenizer.json     the tokenizer that produced the ids
    train_000.bin ...  uint16 ids when the vocabulary fits in 16 bits, else uint32
    val_000.bin ...

Shards are read back with ``numpy.memmap``, so a corpus larger than RAM costs
nothing to open, and sampling a window is a slice. ``meta.json`` is written last:
a directory without it is an interrupted ``prepare`` and is refused.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lmforge.errors import DataError
from lmforge.io import atomic_write, read_json, read_text, write_json
from lmforge.progress import progress_bar
from lmforge.tokenizers import load_tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE, Tokenizer

META_FILE = "meta.json"
DEFAULT_SHARD_TOKENS = 100_000_000
DECODE_TOKENS = 1 << 18  # tokens read (and decoded, for byte counts) at a time from token files


@dataclass
class SplitInfo:
    files: list[str]
    tokens: int
    bytes: int  # UTF-8 bytes of the text behind these tokens (for bits-per-byte)


@dataclass
class DataMeta:
    vocab_size: int
    dtype: str
    sources: list[str]
    train: SplitInfo
    val: SplitInfo
    tokenizer: str = TOKENIZER_FILE

    @property
    def val_tokens_per_byte(self) -> float:
        return self.val.tokens / max(self.val.bytes, 1)


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def tokenize_files(files: Sequence[str | Path], tokenizer: Tokenizer) -> np.ndarray:
    """Encode each file; documents are joined with the end-of-text token when the tokenizer has one."""
    if not files:
        raise DataError("no input files given")
    parts: list[np.ndarray] = []
    eos = tokenizer.eos_id
    with progress_bar() as bar:
        task = bar.add_task("tokenizing", total=len(files))
        for path in files:
            text = read_text(path)
            if not text.strip():
                raise DataError(f"{path}: file is empty (or only whitespace); nothing to train on")
            ids = tokenizer.encode(text)
            if eos is not None:
                ids.append(eos)
            parts.append(np.asarray(ids, dtype=np.int64))
            bar.advance(task)
    return np.concatenate(parts)


class TokenFiles:
    """The concatenation of raw token files (stream parts, shards), read by global token range.

    Read with ``np.fromfile`` a slice at a time, not memory-mapped: a memmap's pages count in the
    resident set until it is closed, and one part can hold a whole multi-GB input file's tokens."""

    def __init__(self, paths: list[Path], lengths: list[int], dtype: np.dtype) -> None:
        self.paths, self.dtype = paths, dtype
        self.starts = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])

    def ranges(self, a: int, b: int, step: int = DECODE_TOKENS) -> Iterator[np.ndarray]:
        """Tokens [a, b) of the corpus, in slices of at most ``step`` tokens."""
        first = int(np.searchsorted(self.starts, a, side="right")) - 1
        for i in range(max(first, 0), len(self.paths)):
            lo, hi = max(a, int(self.starts[i])), min(b, int(self.starts[i + 1]))
            if lo >= b:
                break
            if hi <= lo:
                continue
            offset = int(self.starts[i])
            for s in range(lo, hi, step):
                n = min(hi, s + step) - s
                yield np.fromfile(self.paths[i], self.dtype, count=n, offset=(s - offset) * self.dtype.itemsize)

    def write(self, f: BinaryIO, a: int, b: int) -> None:
        for piece in self.ranges(a, b):
            f.write(piece.tobytes())

    def utf8_bytes(self, tokenizer: Tokenizer, a: int, b: int) -> int:
        """UTF-8 bytes behind tokens [a, b), decoded a slice at a time (exact unless a slice boundary splits a
        character)."""
        return sum(len(tokenizer.decode(piece.tolist()).encode("utf-8")) for piece in self.ranges(a, b))


def shard_spans(split: str, a: int, b: int, shard_tokens: int) -> list[tuple[str, int, int]]:
    """(file name, first token, end token) of each shard holding tokens [a, b) of ``split``."""
    return [(f"{split}_{i:03d}.bin", start, min(b, start + shard_tokens))
            for i, start in enumerate(range(a, b, shard_tokens))]


def _write_shards(ids: np.ndarray, out_dir: Path, split: str, dtype: np.dtype, shard_tokens: int) -> list[str]:
    spans = shard_spans(split, 0, len(ids), shard_tokens)
    for name, start, end in spans:
        with atomic_write(out_dir / name, "wb") as f:
            f.write(ids[start:end].astype(dtype).tobytes())
    return [name for name, _, _ in spans]


def copy_tokenizer(tokenizer_path: str | Path, out_dir: Path) -> None:
    """Put ``tokenizer_path`` in ``out_dir`` (atomically), unless it is that very file already.

    Re-preparing a data directory with its own tokenizer (``--tokenizer D --out D``) must not copy a
    file onto itself (shutil refuses, after ``meta.json`` is gone)."""
    target = out_dir / TOKENIZER_FILE
    if target.exists() and target.resolve() == Path(tokenizer_path).resolve():
        return
    data = Path(tokenizer_path).read_bytes()
    with atomic_write(target, "wb") as f:
        f.write(data)


def prepare(
    files: Sequence[str | Path],
    tokenizer: Tokenizer,
    tokenizer_path: str | Path,
    out_dir: str | Path,
    val_fraction: float = 0.1,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
) -> DataMeta:
    """Tokenize ``files`` into ``out_dir``; the last ``val_fraction`` of tokens is the validation split."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)  # the directory is incomplete until meta.json is back
    ids = tokenize_files(files, tokenizer)
    n_val = max(1, math.ceil(len(ids) * val_fraction))
    if len(ids) - n_val < 2:
        raise DataError(f"corpus has only {len(ids)} tokens: too small to split into train and validation")
    copy_tokenizer(tokenizer_path, out_dir)
    return _write_splits(ids[:-n_val], ids[-n_val:], tokenizer, [str(Path(f).resolve()) for f in files], out_dir,
                         shard_tokens)


def _write_splits(train_ids: np.ndarray, val_ids: np.ndarray, tokenizer: Tokenizer, sources: list[str],
                  out_dir: Path, shard_tokens: int) -> DataMeta:
    """Shards of both splits, then ``meta.json`` (last: its presence marks a complete directory)."""
    dtype = token_dtype(tokenizer.vocab_size)

    def split_info(split: str, split_ids: np.ndarray) -> SplitInfo:
        n_bytes = len(tokenizer.decode(split_ids.tolist()).encode("utf-8"))
        return SplitInfo(_write_shards(split_ids, out_dir, split, dtype, shard_tokens), len(split_ids), n_bytes)

    meta = DataMeta(vocab_size=tokenizer.vocab_size, dtype=dtype.name, sources=sources,
                    train=split_info("train", train_ids), val=split_info("val", val_ids))
    write_json(out_dir / META_FILE, asdict(meta))
    return meta


def carve_dev_split(data_dir: str | Path, out_dir: str | Path, dev_fraction: float = 0.1,
                    shard_tokens: int = DEFAULT_SHARD_TOKENS) -> DataMeta:
    """A data directory whose ``val`` split is a *dev* split: the last ``dev_fraction`` of ``data_dir``'s
    training tokens; its ``train`` split is the rest. ``data_dir``'s own validation tokens appear nowhere.

    Choosing a recipe (model shape, learning rate, tricks) by its validation loss fits the recipe to the
    validation text, so that loss no longer measures what an unseen text would get. A recipe search trains
    on this directory and compares dev losses; the validation split is then read once, for the final recipe.
    """
    if not 0.0 < dev_fraction < 1.0:
        raise DataError(f"dev_fraction must be between 0 and 1 (exclusive), got {dev_fraction}")
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    meta = load_meta(data_dir)
    dtype = np.dtype(meta.dtype)
    paths = [data_dir / name for name in meta.train.files]
    tokens = TokenFiles(paths, [p.stat().st_size // dtype.itemsize for p in paths], dtype)  # read in slices
    total = meta.train.tokens
    n_dev = max(1, math.ceil(total * dev_fraction))
    if total - n_dev < 2:
        raise DataError(f"{data_dir}: {total} training tokens are too few to carve a dev split from")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)
    copy_tokenizer(data_dir / TOKENIZER_FILE, out_dir)
    tokenizer = load_tokenizer(out_dir / TOKENIZER_FILE)

    def split_info(split: str, a: int, b: int) -> SplitInfo:
        spans = shard_spans(split, a, b, shard_tokens)
        for name, start, end in spans:
            with atomic_write(out_dir / name, "wb") as f:
                tokens.write(f, start, end)
        return SplitInfo([name for name, _, _ in spans], b - a, tokens.utf8_bytes(tokenizer, a, b))

    carved = DataMeta(vocab_size=meta.vocab_size, dtype=meta.dtype, sources=meta.sources,
                      train=split_info("train", 0, total - n_dev), val=split_info("val", total - n_dev, total))
    write_json(out_dir / META_FILE, asdict(carved))
    return carved


def load_meta(data_dir: str | Path) -> DataMeta:
    data_dir = Path(data_dir)
    if not (data_dir / META_FILE).is_file():
        raise DataError(f"{data_dir} is not a prepared data directory (no {META_FILE}); run `lmforge prepare` first")
    raw = read_json(data_dir / META_FILE, "data meta")
    try:
        return DataMeta(**{**raw, "train": SplitInfo(**raw["train"]), "val": SplitInfo(**raw["val"])})
    except (KeyError, TypeError) as e:
        raise DataError(f"{data_dir / META_FILE}: malformed ({e})") from None


def open_shards(data_dir: str | Path, split: str) -> list[np.memmap]:
    """Memory-map every shard of ``split`` ("train" or "val")."""
    data_dir = Path(data_dir)
    meta = load_meta(data_dir)
    info = {"train": meta.train, "val": meta.val}[split]
    shards = []
    for name in info.files:
        path = data_dir / name
        if not path.is_file():
            raise DataError(f"{data_dir}: shard {name} listed in {META_FILE} is missing")
        shards.append(np.memmap(path, dtype=np.dtype(meta.dtype), mode="r"))
    return shards
