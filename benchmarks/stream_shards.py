"""Streaming tokenization at scale: MB/s and peak memory of ``lmforge prepare``, then a flat-memory read loop.

    python -m benchmarks.stream_shards [--mb 1024] [--files 64] [--workers 2] [--format txt|jsonl|parquet]

1. Writes a synthetic corpus of ``--mb`` MB (``--files`` files; lines of words drawn from tinyshakespeare's
   vocabulary with a seeded generator, so every run builds the same corpus).
2. Runs ``lmforge prepare --workers N`` on it in a child process with a byte-level BPE (4,096 tokens) trained
   on tinyshakespeare, and reports input MB/s (wall clock, process start included) and the peak resident set
   of the largest process among it and its workers (``ru_maxrss`` of ``os.wait4`` on that child, which
   covers its own waited-for children). Linux carries a parent's resident set into a forked child's peak,
   so the corpus is written and the tokenizer trained in another child, and this process stays small.
   The bound checked is per process: ``--rss-bound-mb`` (default 512), whatever the corpus size, since a
   worker holds one 1 MiB text chunk and the assembly copies memmap slices.
3. Reads ``--batches`` random training windows (the Trainer's sampler over ``np.memmap`` shards) and reports
   the anonymous resident memory (``RssAnon``) before and after: it stays flat. File-backed pages of the
   shards (``RssFile``) grow as windows are read; the kernel drops them under memory pressure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lmforge.assets import tinyshakespeare_path
from lmforge.io import read_text
from lmforge.tokenizers import train_tokenizer

# torch (through the sampler and benchmarks._common) is imported only after the children have run:
# a child forked from a process that holds it would start with a ~250 MB peak that is not its own.

LINES_PER_WRITE = 2_000


def write_corpus(root: Path, megabytes: float, files: int, fmt: str, seed: int = 0) -> None:
    """Write ``files`` files of about ``megabytes / files`` MB each."""
    words = np.array(sorted(set(read_text(tinyshakespeare_path()).split())))
    rng = np.random.default_rng(seed)
    per_file = int(megabytes * 1e6 / files)
    for i in range(files):
        written = 0
        path = root / f"part{i:04d}.{fmt}"
        writer = _writer(path, fmt)
        while written < per_file:
            batch = [" ".join(words[rng.integers(0, len(words), rng.integers(5, 16))]) for _ in range(LINES_PER_WRITE)]
            lines = batch if fmt == "txt" else [" ".join(batch[j : j + 20]) for j in range(0, len(batch), 20)]
            written += writer(lines)
        writer(None)


def _writer(path: Path, fmt: str):
    """A function that appends lines (txt) or documents (jsonl/parquet) and returns their size; None closes."""
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        out: list = []

        def add(docs):
            if docs is None:
                out[0].close()
                return 0
            table = pa.table({"text": docs})
            if not out:
                out.append(pq.ParquetWriter(path, table.schema))
            out[0].write_table(table)
            return sum(len(d) + 1 for d in docs)

        return add
    f = path.open("w", encoding="utf-8")

    def write(items):
        if items is None:
            f.close()
            return 0
        text = "".join((json.dumps({"text": d}) if fmt == "jsonl" else d) + "\n" for d in items)
        f.write(text)
        return len(text)

    return write


def prepare_inputs(root: str, megabytes: float, files: int, fmt: str) -> None:
    """The corpus under ``root/corpus`` and a 4,096-token byte-level BPE in ``root/tokenizer.json``."""
    root = Path(root)
    (root / "corpus").mkdir(parents=True, exist_ok=True)
    write_corpus(root / "corpus", megabytes, files, fmt)
    train_tokenizer("bpe", read_text(tinyshakespeare_path()), 4096).save(root / "tokenizer.json")


def run_child(args: list[str]) -> tuple[float, float]:
    """Run ``python args`` to completion; its wall seconds and the peak RSS (MB) of it and its children."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, *args])
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed")
    return time.perf_counter() - start, usage.ru_maxrss / 1024  # Linux: KiB


def rss_fields() -> dict[str, float]:
    """RssAnon and RssFile of this process, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def read_loop(data_dir: Path, batches: int, block: int, batch_size: int) -> dict[str, float]:
    from lmforge.data.sampler import RandomWindowSampler
    from lmforge.data.shards import open_shards

    sampler = RandomWindowSampler(open_shards(data_dir, "train"), block, batch_size, seed=0)
    sampler.next_batch()
    before = rss_fields()
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = sampler.next_batch()
    seconds = time.perf_counter() - start
    after = rss_fields()
    return {"anon_before": before["RssAnon"], "anon_after": after["RssAnon"], "file_before": before["RssFile"],
            "file_after": after["RssFile"], "batches_per_s": batches / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=1024, help="corpus size in MB (default 1024)")
    parser.add_argument("--files", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--format", choices=("txt", "jsonl", "parquet"), default="txt")
    parser.add_argument("--shard-tokens", type=int, default=50_000_000)
    parser.add_argument("--rss-bound-mb", type=float, default=512)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one, removed after)")
    args = parser.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="stream_shards_"))
    try:
        corpus, out = root / "corpus", root / "data"
        run_child(["-c", f"from benchmarks.stream_shards import prepare_inputs; "
                         f"prepare_inputs({str(root)!r}, {args.mb}, {args.files}, {args.format!r})"])
        input_bytes = sum(f.stat().st_size for f in corpus.iterdir())
        seconds, peak_mb = run_child(["-m", "lmforge", "prepare", str(corpus), "--tokenizer",
                                      str(root / "tokenizer.json"), "--out", str(out), "--workers",
                                      str(args.workers), "--shard-tokens", str(args.shard_tokens)])
        from benchmarks._common import markdown_table
        from benchmarks._machine import machine_summary
        from lmforge.data.shards import load_meta

        meta = load_meta(out)
        tokens = meta.train.tokens + meta.val.tokens
        loop = read_loop(out, args.batches, block=1024, batch_size=16)

        print(machine_summary())
        print(markdown_table(
            ["corpus", "workers", "MB/s", "tokens", "shards", "peak RSS / process", "bound", "within"],
            [[f"{input_bytes / 1e6:,.0f} MB {args.format} ({args.files} files)", str(args.workers),
              f"{input_bytes / 1e6 / seconds:.2f}", f"{tokens:,}", str(len(meta.train.files) + len(meta.val.files)),
              f"{peak_mb:.0f} MB", f"{args.rss_bound_mb:.0f} MB", "yes" if peak_mb <= args.rss_bound_mb else "NO"]]))
        print()
        print(markdown_table(
            ["read loop", "batches/s", "RssAnon before → after", "RssFile before → after"],
            [[f"{args.batches} × (16 × 1,025) windows", f"{loop['batches_per_s']:,.0f}",
              f"{loop['anon_before']:.0f} → {loop['anon_after']:.0f} MB",
              f"{loop['file_before']:.0f} → {loop['file_after']:.0f} MB"]]))
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
