"""Tokenizer speed: lmforge vs Hugging Face ``tokenizers`` on tinyshakespeare, same run.

    python -m benchmarks.tokenize_speed [--repeats 3] [--vocab-size 4096]

Rows: encode throughput (MB of UTF-8 text per second) for GPT-2's BPE and for
a BPE trained here, as one whole-text ``encode`` and as ``encode_batch`` over
lines; then BPE training time. "warm" is the median of ``--repeats`` runs
after a first call (both libraries cache per-word results); "cold" is the
first call on a freshly loaded tokenizer. ``speed vs HF`` > 1 means lmforge is
faster (throughput ratio, or HF time / lmforge time for training). Both
tokenizers are checked to produce identical ids before anything is timed.

Note: HF's ``encode_batch`` and trainer use all CPU cores; lmforge uses one.
"""

from __future__ import annotations

import argparse
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


def _warm(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up: fills per-word caches
    return statistics.median(_timed(fn)[0] for _ in range(repeats))


def _hf_gpt2():
    import tokenizers

    tok = tokenizers.Tokenizer(
        tokenizers.models.BPE.from_file(str(GPT2_DIR / "encoder.json"), str(GPT2_DIR / "vocab.bpe"))
    )
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def _encode_rows(name: str, make_ours, make_hf, text: str, lines: list[str], repeats: int) -> list[tuple]:
    """Rows for one tokenizer: whole-text cold / warm and per-line batch."""
    mb = len(text.encode("utf-8")) / 1e6
    ours, hf = make_ours(), make_hf()
    cold_ours, ids = _timed(lambda: ours.encode(text, allowed_special="all"))
    cold_hf, hf_enc = _timed(lambda: hf.encode(text))
    if ids != hf_enc.ids:
        raise SystemExit(f"{name}: lmforge and HF ids differ; refusing to benchmark")
    warm_ours = _warm(lambda: ours.encode(text, allowed_special="all"), repeats)
    warm_hf = _warm(lambda: hf.encode(text), repeats)
    ours, hf = make_ours(), make_hf()  # fresh caches for the cold batch numbers
    cold_batch_ours, _ = _timed(lambda: ours.encode_batch(lines, allowed_special="all"))
    cold_batch_hf, _ = _timed(lambda: hf.encode_batch(lines))
    batch_ours = _warm(lambda: ours.encode_batch(lines, allowed_special="all"), repeats)
    batch_hf = _warm(lambda: hf.encode_batch(lines), repeats)
    return [
        (f"encode whole text, warm (MB/s) | {name}", mb / warm_ours, mb / warm_hf),
        (f"encode whole text, cold (MB/s) | {name}", mb / cold_ours, mb / cold_hf),
        (f"encode_batch lines, warm (MB/s) | {name}", mb / batch_ours, mb / batch_hf),
        (f"encode_batch lines, cold (MB/s) | {name}", mb / cold_batch_ours, mb / cold_batch_hf),
    ]


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
            lambda: tokenizers.Tokenizer.from_file(str(Path(tmp) / "tokenizer.json")),
            text,
            lines,
            args.repeats,
        )

    print("| measurement | tokenizer | lmforge | HF tokenizers | speed vs HF |")
    print("|---|---|---:|---:|---:|")
    for label, ours, hf in rows:
        print(f"| {label} | {ours:.2f} | {hf:.2f} | {ours / hf:.2f}x |")
    print(
        f"| train BPE (s) | vocab {args.vocab_size} (HF: {hf_vocab}) | {train_s:.2f} | {hf_train_s:.2f} "
        f"| {hf_train_s / train_s:.2f}x |"
    )


if __name__ == "__main__":
    main()
