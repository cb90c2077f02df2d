"""Tokenizer speed: lmforge vs Hugging Face ``tokenizers`` on tinyshakespeare, same run.

    python -m benchmarks.tokenize_speed [--repeats 3] [--vocab-size 4096]

Rows: encode throughput (MB of UTF-8 text per second) for GPT-2's BPE and for
a BPE trained here, as one whole-text encode and as a batch of lines; then BPE
training time. "warm" is the median of ``--repeats`` runs after a first call
(both libraries cache per-word results); "cold" is the first call on a freshly
loaded tokenizer. ``speed vs HF`` > 1 means lmforge is faster (throughput
ratio, or HF time / lmforge time for training). Both tokenizers are checked to
produce identical ids before anything is timed.

Like with like: lmforge returns ids only, so HF is timed twice, with
``encode``/``encode_batch`` (which also compute character offsets) and with
``encode_batch_fast`` (ids without offsets, the fair comparison); and HF's BPE
word cache is given lmforge's size (HF's default holds 10,000 words, lmforge's
500,000), so "warm" means the same thing on both sides.

Note: HF's batch calls and trainer use all CPU cores; lmforge uses one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._machine import machine_summary
from lmforge.assets import tinyshakespeare_path
from lmforge.tokenizers import ByteLevelBPE

GPT2_DIR = Path(__file__).resolve().parents[1] / "tests" / "data" / "gpt2_tokenizer"


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _call_seconds(call: Callable[[Any], Any], tokenizer: Any, repeats: int) -> float:
    """Seconds of ``call(tokenizer)``: with ``repeats=0`` the first (cold) call itself; else the median of
    ``repeats`` calls after that first one has filled the word caches (warm)."""
    first = _timed(lambda: call(tokenizer))[0]
    if repeats == 0:
        return first
    return statistics.median(_timed(lambda: call(tokenizer))[0] for _ in range(repeats))


def _hf_gpt2():
    import tokenizers

    tok = tokenizers.Tokenizer(
        tokenizers.models.BPE.from_file(
            str(GPT2_DIR / "encoder.json"), str(GPT2_DIR / "vocab.bpe"), cache_capacity=ByteLevelBPE.cache_limit
        )
    )
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def _hf_from_file(path: Path):
    """HF's tokenizer for a saved tokenizer.json, its BPE rebuilt with lmforge's word-cache size.

    The cache size is not part of tokenizer.json, so the model is rebuilt from the
    file's own vocab and merges (everything else, pre-tokenizer and decoder, is kept).
    """
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(path))
    model = json.loads(path.read_text(encoding="utf-8"))["model"]
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tok.model = tokenizers.models.BPE(model["vocab"], merges, cache_capacity=ByteLevelBPE.cache_limit)
    return tok


def _encode_rows(name: str, make_ours, make_hf, text: str, lines: list[str], repeats: int) -> list[tuple]:
    """Rows for one tokenizer: whole text and a batch of lines, warm and cold, HF with and without offsets."""
    mb = len(text.encode("utf-8")) / 1e6
    ours, hf = make_ours(), make_hf()
    ids = ours.encode(text, allowed_special="all")
    if ids != hf.encode(text).ids or ids != hf.encode_batch_fast([text])[0].ids:
        raise SystemExit(f"{name}: lmforge and HF ids differ; refusing to benchmark")
    calls = {  # label -> (lmforge call, HF call with offsets, HF call without offsets)
        "encode whole text": (lambda t: t.encode(text, allowed_special="all"), lambda t: t.encode(text),
                              lambda t: t.encode_batch_fast([text])),
        "encode_batch lines": (lambda t: t.encode_batch(lines, allowed_special="all"), lambda t: t.encode_batch(lines),
                               lambda t: t.encode_batch_fast(lines)),
    }
    rows = []
    for label, (mine, theirs, theirs_fast) in calls.items():
        # cold: the first call on fresh tokenizers (fresh word caches)
        fresh = ((mine, make_ours), (theirs, make_hf), (theirs_fast, make_hf))
        cold = [_call_seconds(fn, make(), 0) for fn, make in fresh]
        # warm: the median of repeated calls on tokenizers whose caches are full
        warm = [_call_seconds(fn, tok, repeats) for fn, tok in ((mine, ours), (theirs, hf), (theirs_fast, hf))]
        for kind, (t_ours, t_hf, t_hf_fast) in (("warm", warm), ("cold", cold)):
            rows.append((f"{label}, {kind} (MB/s) | {name}", mb / t_ours, mb / t_hf, mb / t_hf_fast))
    return rows


def _hf_train_seconds(path: Path, vocab_size: int) -> tuple[float, int]:
    import tokenizers

    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    seconds, _ = _timed(lambda: tok.train([str(path)], trainer))
    return seconds, tok.get_vocab_size()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per warm measurement (median)")
    parser.add_argument("--vocab-size", type=int, default=4096, help="vocab size of the trained BPE")
    args = parser.parse_args(argv)

    import tokenizers

    path = tinyshakespeare_path()
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    print(f"machine: {machine_summary()}")
    print(f"corpus: tinyshakespeare, {len(text.encode()) / 1e6:.2f} MB, {len(lines)} lines")
    print(f"HF tokenizers {tokenizers.__version__}\n")

    train_s, trained = _timed(lambda: ByteLevelBPE.train(text, args.vocab_size))
    hf_train_s, hf_vocab = _hf_train_seconds(path, args.vocab_size)
    rows: list[tuple] = []
    rows += _encode_rows(
        "GPT-2",
        lambda: ByteLevelBPE.from_gpt2_files(GPT2_DIR / "encoder.json", GPT2_DIR / "vocab.bpe"),
        _hf_gpt2,
        text,
        lines,
        args.repeats,
    )
    with tempfile.TemporaryDirectory() as tmp:
        trained.save(Path(tmp) / "tokenizer.json")
        rows += _encode_rows(
            f"lmforge BPE {args.vocab_size}",
            lambda: ByteLevelBPE.load(Path(tmp) / "tokenizer.json"),
            lambda: _hf_from_file(Path(tmp) / "tokenizer.json"),
            text,
            lines,
            args.repeats,
        )

    print("| measurement | tokenizer | lmforge | HF (with offsets) | HF fast (ids only) | vs HF | vs HF fast |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, ours, hf, hf_fast in rows:
        print(f"| {label} | {ours:.2f} | {hf:.2f} | {hf_fast:.2f} | {ours / hf:.2f}x | {ours / hf_fast:.2f}x |")
    print(
        f"| train BPE (s) | vocab {args.vocab_size} (HF: {hf_vocab}) | {train_s:.2f} | {hf_train_s:.2f} | "
        f"| {hf_train_s / train_s:.2f}x | |"
    )


if __name__ == "__main__":
    main()
