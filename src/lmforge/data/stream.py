"""Stream many text, JSONL and parquet files into token shards: in parallel, resumably, in bounded memory.

The in-memory :func:`lmforge.data.shards.prepare` reads the whole corpus; this module never does.
It writes the same data directory (``meta.json`` + fixed-size ``train_NNN.bin``/``val_NNN.bin``
shards + ``tokenizer.json``), so ``lmforge train`` reads its output through ``numpy.memmap`` as before.

Two phases, each resumable after a kill::

    1. tokenize   worker processes each take one input file and stream it (1 MiB text chunks,
                  one JSONL line, one parquet row group at a time) into parts/NNNNN.bin
    2. assemble   the parts, in input order, are cut into shards of exactly shard_tokens
                  (the last of each split is shorter); the last val_fraction of tokens is val

Every part and shard is written atomically, and ``prepare_state.json`` (also atomic) lists the
finished ones, so a rerun after a crash or a kill skips them. ``meta.json`` is written last:
until it exists, training refuses the directory, so it never reads a half-prepared one.
Token ids equal the in-memory path's: documents are whole files (text) or records (JSONL,
parquet), each followed by the end-of-text token when the tokenizer has one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import multiprocessing
import queue
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import DownloadColumn, TransferSpeedColumn

from lmforge.data.shards import (
    DEFAULT_SHARD_TOKENS,
    META_FILE,
    DataMeta,
    SplitInfo,
    TokenFiles,
    copy_tokenizer,
    shard_spans,
    token_dtype,
)
from lmforge.errors import DataError
from lmforge.io import atomic_write, read_json, write_json
from lmforge.progress import progress_bar
from lmforge.tokenizers import load_tokenizer
from lmforge.tokenizers.base import Tokenizer

TEXT_SUFFIXES = (".txt", ".md")
JSONL_SUFFIXES = (".jsonl",)
PARQUET_SUFFIXES = (".parquet",)
STATE_FILE = "prepare_state.json"
PARTS_DIR = "parts"
CHUNK_BYTES = 1 << 20  # text read per step: bounds a worker's memory whatever the file size

# A text chunk ends at "x\nY" (x, Y printable ASCII, not space): both sides of that newline are
# pre-token boundaries for char-level, GPT-2 byte-level BPE and whitespace-splitting tokenizers,
# so the chunked ids equal the whole file's. In Windows text ("x\r\nY") the chunk ends before the
# "\r": GPT-2's pattern makes a trailing "\r\n" one pre-token but splits "\r", "\n" before a letter,
# so a cut after the "\n" could change ids, one before the "\r" cannot. (A SentencePiece-style
# tokenizer that prepends "▁" to its input does not have this property; give it a large chunk_bytes.)
_PRINTABLE = range(0x21, 0x7F)
# Text with no such place (every line indented, no newline at all) is still cut once this many
# chunks are buffered, so memory stays bounded; see _forced_cut.
MAX_UNCUT_CHUNKS = 4


@dataclass(frozen=True)
class StreamOptions:
    field: str = "text"  # the JSONL key holding a document's text
    column: str = "text"  # the parquet column holding it
    skip_bad: bool = False  # skip (and count) JSONL lines / parquet rows without a text, instead of stopping
    chunk_bytes: int = CHUNK_BYTES


@dataclass
class FileResult:
    tokens: int
    bytes: int  # UTF-8 bytes of the decoded tokens (for bits per byte)
    skipped: int  # bad lines or rows skipped (with skip_bad)


@dataclass
class StreamResult:
    meta: DataMeta
    skipped: int
    files: int
    input_bytes: int


# ----------------------------------------------------------------- inputs
def collect_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """The files to read: each path given, or every supported file under a directory (sorted)."""
    suffixes = TEXT_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes))
        elif not path.exists():
            raise DataError(f"file not found: {path}")
        elif path.suffix.lower() not in suffixes:
            raise DataError(f"{path}: unsupported file type {path.suffix!r} (expected one of {', '.join(suffixes)})")
        else:
            files.append(path)
    if not files:
        raise DataError(f"no input files given (looked for {', '.join(suffixes)})")
    return files


def _check_readers(files: list[Path]) -> None:
    """Parquet needs the optional pyarrow: say so in one line, before anything in the output is touched."""
    if any(f.suffix.lower() in PARQUET_SUFFIXES for f in files):
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise DataError("parquet input needs pyarrow: pip install 'lmforge[scale]'") from None


# ----------------------------------------------------------------- readers
# Each yields (text, ends_a_document, input_bytes_consumed); text None is a skipped bad record.
Piece = tuple[str | None, bool, int]


def _safe_cut(buf: bytes, start: int = 0) -> int:
    """The last index where a chunk of ``buf`` may end (0: none), looking at newlines from ``start`` on.

    A newline's verdict depends only on its neighbours, so a caller that appends to ``buf`` passes
    the old length minus one and each byte is searched once (not once per block read)."""
    end = len(buf) - 1  # the byte after the newline must be in buf
    while (nl := buf.rfind(b"\n", max(start, 1), end)) > 0:
        if buf[nl + 1] in _PRINTABLE:
            if buf[nl - 1] in _PRINTABLE:
                return nl + 1
            if buf[nl - 1] == 0x0D and nl >= 2 and buf[nl - 2] in _PRINTABLE:
                return nl - 1  # before the "\r" (see above)
        end = nl
    return 0


def _forced_cut(buf: bytes) -> int:
    """Where to cut text that has no safe place: after the last newline, else at the last character start.

    Bounds memory at the price of exactness at that one cut: a tokenizer whose pre-tokens span the
    newline (GPT-2's ``"\\n   "`` before an indented line) may give other ids there than the whole file."""
    cut = buf.rfind(b"\n") + 1
    if cut == 0:  # no newline at all: before the last character, which may be incomplete
        cut = len(buf) - 1
        while cut > 0 and buf[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: not a character start
            cut -= 1
    return cut


def _decode(path: Path, data: bytes, offset: int, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        at_line = line + data.count(b"\n", 0, e.start)
        raise DataError(f"{path}: byte offset {offset + e.start} (line {at_line}): byte 0x{data[e.start]:02x} "
                        "is not valid UTF-8; convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)") from None


def _text_pieces(path: Path, options: StreamOptions) -> Iterator[Piece]:
    """A text file as one document, in chunks of about ``chunk_bytes`` cut between lines."""
    buf, offset, line, content = b"", 0, 1, False
    with path.open("rb") as f:
        while block := f.read(options.chunk_bytes):
            searched, buf = len(buf), buf + block
            cut = _safe_cut(buf, searched - 1)
            if cut == 0 and len(buf) >= MAX_UNCUT_CHUNKS * options.chunk_bytes:
                cut = _forced_cut(buf)
            if cut == 0:
                continue  # no place to cut yet: read on
            text = _decode(path, buf[:cut], offset, line)
            content = content or bool(text.strip())
            yield text, False, cut
            offset, line, buf = offset + cut, line + buf.count(b"\n", 0, cut), buf[cut:]
    text = _decode(path, buf, offset, line)
    if not (content or text.strip()):
        raise DataError(f"{path}: file is empty (or only whitespace); nothing to train on")
    yield text, True, len(buf)


def _bad(path: Path, where: str, problem: str, options: StreamOptions, consumed: int) -> Piece:
    if not options.skip_bad:
        raise DataError(f"{path}:{where}: {problem} (use --skip-bad to skip such records and count them)")
    return None, False, consumed


def _jsonl_pieces(path: Path, options: StreamOptions) -> Iterator[Piece]:
    """One document per line: the string under ``options.field``."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                yield "", False, len(raw)
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                yield _bad(path, str(number), f"not a JSON line ({e})", options, len(raw))
                continue
            text = obj.get(options.field) if isinstance(obj, dict) else None
            if not isinstance(text, str):
                found = f"keys: {', '.join(obj)}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
                yield _bad(path, str(number), f"no string field {options.field!r} ({found})", options, len(raw))
                continue
            yield text, True, len(raw)


def _parquet_pieces(path: Path, options: StreamOptions) -> Iterator[Piece]:
    """One document per row of ``options.column``, read one row group at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: not a readable parquet file ({' '.join(str(e).split())})") from None
    names = parquet.schema_arrow.names
    if options.column not in names:
        raise DataError(f"{path}: no column {options.column!r} (columns: {', '.join(names)}); pick one with --column")
    size, groups, row = path.stat().st_size, parquet.num_row_groups, 0
    for g in range(groups):
        try:
            texts = parquet.read_row_group(g, columns=[options.column]).column(0).to_pylist()
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{path}: row group {g} is unreadable ({' '.join(str(e).split())})") from None
        consumed = size * (g + 1) // groups - size * g // groups  # progress: the file's bytes, spread over groups
        for text in texts:
            row += 1
            if isinstance(text, str):
                yield text, True, 0
            else:
                yield _bad(path, f"row {row}", f"column {options.column!r} is {type(text).__name__}, not a string",
                           options, 0)
        yield "", False, consumed


def _pieces(path: Path, options: StreamOptions) -> Iterator[Piece]:
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _jsonl_pieces(path, options)
    if suffix in PARQUET_SUFFIXES:
        return _parquet_pieces(path, options)
    return _text_pieces(path, options)


# ----------------------------------------------------------------- phase 1: one file -> one part
def tokenize_file(path: Path, tokenizer: Tokenizer, part: Path, options: StreamOptions,
                  report: Callable[[int], None] = lambda n: None) -> FileResult:
    """Stream ``path`` into the token file ``part`` (atomically); ``report`` gets input bytes as they are read."""
    dtype, eos = token_dtype(tokenizer.vocab_size), tokenizer.eos_id
    tokens = n_bytes = skipped = pending = 0
    with atomic_write(part, "wb") as f:
        for text, doc_end, consumed in _pieces(path, options):
            if text is None:
                skipped += 1
            elif text or doc_end:
                ids = tokenizer.encode(text)
                if doc_end and eos is not None:
                    ids.append(eos)
                np.asarray(ids, dtype=dtype).tofile(f)
                tokens += len(ids)
                n_bytes += len(tokenizer.decode(ids).encode("utf-8"))
            pending += consumed
            if pending >= options.chunk_bytes:
                report(pending)
                pending = 0
    report(pending)
    return FileResult(tokens, n_bytes, skipped)


# Worker processes: the tokenizer is loaded once per process; progress goes through a bounded queue.
_worker: dict[str, Any] = {}


def _init_worker(tokenizer_path: str, progress: multiprocessing.Queue, options: StreamOptions) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle: it ends the pool
    _worker.update(tokenizer=load_tokenizer(tokenizer_path), progress=progress, options=options)


def _worker_task(job: tuple[int, str, str]) -> tuple[int, FileResult]:
    index, path, part = job
    result = tokenize_file(Path(path), _worker["tokenizer"], Path(part), _worker["options"], _worker["progress"].put)
    return index, result


# ----------------------------------------------------------------- phase 2: parts -> shards
def _fingerprint(files: list[Path], tokenizer_path: Path, options: StreamOptions, val_fraction: float,
                 shard_tokens: int) -> dict[str, Any]:
    """What the output depends on: a rerun with a different one starts over instead of mixing the two."""
    return {
        "tokenizer_sha256": hashlib.sha256(tokenizer_path.read_bytes()).hexdigest(),
        "inputs": [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
        "options": asdict(options),
        "val_fraction": val_fraction,
        "shard_tokens": shard_tokens,
    }


def _load_state(out_dir: Path, fingerprint: dict[str, Any], console: Console) -> dict[str, Any]:
    path = out_dir / STATE_FILE
    if path.is_file():
        with contextlib.suppress(DataError):
            state = read_json(path, "prepare state")
            if isinstance(state, dict) and state.get("fingerprint") == fingerprint:
                console.print(f"resuming: {len(state['files'])} files and {len(state['shards'])} shards already done")
                return state
        console.print(f"{out_dir}: an earlier prepare with other inputs or settings; starting over")
    shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
    for old in [*out_dir.glob("train_*.bin"), *out_dir.glob("val_*.bin")]:
        old.unlink()
    return {"fingerprint": fingerprint, "files": {}, "shards": []}


def _tokenize_all(files: list[Path], tokenizer_path: Path, out_dir: Path, options: StreamOptions, workers: int,
                  state: dict[str, Any], console: Console) -> None:
    """Phase 1: every input file not yet done becomes a part; the state is saved after each."""
    parts = out_dir / PARTS_DIR
    todo = [(i, str(f), str(parts / f"{i:05d}.bin")) for i, f in enumerate(files) if str(i) not in state["files"]]
    done_bytes = sum(f.stat().st_size for i, f in enumerate(files) if str(i) in state["files"])

    def finished(index: int, result: FileResult) -> None:
        state["files"][str(index)] = asdict(result)
        write_json(out_dir / STATE_FILE, state)

    with progress_bar(DownloadColumn(), TransferSpeedColumn(), console=console) as bar:
        task = bar.add_task("tokenizing", total=sum(f.stat().st_size for f in files), completed=done_bytes)
        if workers == 1 or len(todo) <= 1:
            tokenizer = load_tokenizer(tokenizer_path)
            for index, path, part in todo:
                finished(index, tokenize_file(Path(path), tokenizer, Path(part), options,
                                              lambda n: bar.advance(task, n)))
            return
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads (rich, torch)
        progress = context.Queue(maxsize=4 * workers)
        with context.Pool(min(workers, len(todo)), _init_worker, (str(tokenizer_path), progress, options)) as pool:
            results = pool.imap_unordered(_worker_task, todo)
            remaining = len(todo)
            while remaining:
                with contextlib.suppress(queue.Empty):
                    bar.advance(task, progress.get(timeout=0.05))
                    continue
                try:
                    index, result = results.next(timeout=0.05)
                except multiprocessing.TimeoutError:
                    continue
                finished(index, result)
                remaining -= 1
        while not progress.empty():  # what the last files reported after the loop's last look
            bar.advance(task, progress.get())


def _assemble(parts: TokenFiles, out_dir: Path, split: str, a: int, b: int, shard_tokens: int,
              state: dict[str, Any]) -> list[str]:
    """Phase 2 for one split: tokens [a, b) into shards; finished shards (listed and of full size) are kept."""
    spans = shard_spans(split, a, b, shard_tokens)
    for name, start, end in spans:
        path = out_dir / name
        expected = (end - start) * parts.dtype.itemsize
        if not (name in state["shards"] and path.is_file() and path.stat().st_size == expected):
            with atomic_write(path, "wb") as f:
                parts.write(f, start, end)
            if name not in state["shards"]:  # listed but of the wrong size: rewritten, still listed once
                state["shards"].append(name)
            write_json(out_dir / STATE_FILE, state)
    return [name for name, _, _ in spans]


def prepare_stream(inputs: Sequence[str | Path], tokenizer_path: str | Path, out_dir: str | Path,
                   val_fraction: float = 0.1, shard_tokens: int = DEFAULT_SHARD_TOKENS, workers: int = 1,
                   options: StreamOptions = StreamOptions(), console: Console | None = None) -> StreamResult:
    """Tokenize ``inputs`` (files or folders of .txt/.md/.jsonl/.parquet) into shards in ``out_dir``.

    Rerunning after an interruption continues where it stopped, provided the inputs, tokenizer
    and settings are unchanged (otherwise it starts over). ``workers`` processes tokenize files
    in parallel; the output is the same for any number of workers.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    if workers < 1 or shard_tokens < 1 or options.chunk_bytes < 1:
        raise DataError(f"workers, shard_tokens and chunk_bytes must be positive (got {workers}, {shard_tokens}, "
                        f"{options.chunk_bytes})")
    console = console or Console(stderr=True)
    files, tokenizer_path, out_dir = collect_inputs(inputs), Path(tokenizer_path), Path(out_dir)
    _check_readers(files)
    tokenizer = load_tokenizer(tokenizer_path)  # fails here, in one line, rather than in every worker
    dtype = token_dtype(tokenizer.vocab_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)  # the directory is incomplete until meta.json is back
    for stale in out_dir.glob(".*.tmp"):  # temp files of a killed run (atomic_write removes them otherwise)
        stale.unlink()
    state = _load_state(out_dir, _fingerprint(files, tokenizer_path, options, val_fraction, shard_tokens), console)

    _tokenize_all(files, tokenizer_path, out_dir, options, workers, state, console)
    results = [FileResult(**state["files"][str(i)]) for i in range(len(files))]
    total = sum(r.tokens for r in results)
    n_val = max(1, math.ceil(total * val_fraction))
    if total - n_val < 2:
        raise DataError(f"corpus has only {total} tokens: too small to split into train and validation")
    parts = TokenFiles([out_dir / PARTS_DIR / f"{i:05d}.bin" for i in range(len(files))],
                   [r.tokens for r in results], dtype)
    train_files = _assemble(parts, out_dir, "train", 0, total - n_val, shard_tokens, state)
    val_files = _assemble(parts, out_dir, "val", total - n_val, total, shard_tokens, state)
    val_bytes = parts.utf8_bytes(tokenizer, total - n_val, total)  # the train bytes are the rest
    all_bytes = sum(r.bytes for r in results)
    copy_tokenizer(tokenizer_path, out_dir)
    meta = DataMeta(
        vocab_size=tokenizer.vocab_size,
        dtype=dtype.name,
        sources=[str(f.resolve()) for f in files],
        train=SplitInfo(train_files, total - n_val, all_bytes - val_bytes),
        val=SplitInfo(val_files, n_val, val_bytes),
    )
    write_json(out_dir / META_FILE, asdict(meta))
    shutil.rmtree(out_dir / PARTS_DIR, ignore_errors=True)
    (out_dir / STATE_FILE).unlink()
    input_bytes = sum(f.stat().st_size for f in files)
    return StreamResult(meta, sum(r.skipped for r in results), len(files), input_bytes)
