"""``lmforge quickstart``: the whole pipeline on the bundled corpus, in minutes on a CPU.

1. train a tokenizer (char-level, or byte-level BPE) on tinyshakespeare;
2. tokenize the corpus into train/val shards;
3. train a small GPT within a time budget;
4. report validation loss (nats/token and bits/byte) and print samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from rich.console import Console

from lmforge.assets import tinyshakespeare_path
from lmforge.data.shards import prepare
from lmforge.infer.loading import load_for_generation
from lmforge.infer.sampling import SamplingConfig
from lmforge.io import read_text
from lmforge.presets import load_preset
from lmforge.recipes.train_lm import resume_lm, run_from_preset, train_lm
from lmforge.tokenizers import CharTokenizer, load_tokenizer, train_tokenizer
from lmforge.train.distributed import SINGLE
from lmforge.train.trainer import TrainResult


@dataclass
class QuickstartResult:
    out_dir: Path
    train: TrainResult
    samples: list[str]


def prompt_ids_for(tokenizer, prompt: str) -> list[int]:
    """Ids for ``prompt``; an empty prompt starts from end-of-text (a fresh document), else a newline."""
    if prompt:
        return tokenizer.encode(prompt)
    return [tokenizer.eos_id] if tokenizer.eos_id is not None else tokenizer.encode("\n")


def quickstart(
    out_dir: str | Path = "runs/quickstart",
    tokenizer_kind: Literal["char", "bpe"] = "char",
    vocab_size: int = 4096,
    preset: str | None = None,
    overrides: dict | None = None,
    n_samples: int = 2,
    sample_tokens: int = 300,
    resume: bool = False,
    console: Console | None = None,
    device: torch.device | None = None,
) -> QuickstartResult:
    """Tokenizer, data, training and samples in ``out_dir``; the model trains and samples on ``device``
    (None: CPU)."""
    SINGLE.check_launch()  # under torchrun every rank would tokenize into the same files: refused in one line
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    if resume:
        console.rule("resuming training")
        result = resume_lm(out_dir, console=console, device=device)
    else:
        result = _tokenize_and_train(out_dir, tokenizer_kind, vocab_size, preset, overrides or {}, console, device)
    if result.stop_reason == "interrupted":
        console.print(f"checkpoint saved; continue with: lmforge quickstart --out {out_dir} --resume")
        return QuickstartResult(out_dir, result, [])
    is_char = isinstance(load_tokenizer(out_dir / "tokenizer.json"), CharTokenizer)
    unit = "nats/char" if is_char else "nats/token"
    console.print(f"[bold green]validation loss {result.val_loss:.4f} {unit} · {result.val_bpb:.4f} bits/byte[/] "
                  f"after {result.steps} steps in {result.elapsed_s / 60:.1f} min "
                  f"({result.tokens_per_s:,.0f} tok/s, {result.precision.precision}; stopped by {result.stop_reason})")
    samples = _show_samples(out_dir, n_samples, sample_tokens, console, device)
    console.print(f"model saved in {out_dir}. Next:\n"
                  f"  lmforge sample {out_dir} --prompt 'ROMEO:'\n"
                  f"  lmforge chat {out_dir}\n"
                  f"  lmforge info {out_dir}")
    return QuickstartResult(out_dir, result, samples)


def _tokenize_and_train(out_dir: Path, tokenizer_kind: str, vocab_size: int, preset: str | None,
                        overrides: dict, console: Console, device: torch.device | None) -> TrainResult:
    corpus = tinyshakespeare_path()
    console.rule(f"1/4 tokenizer ({tokenizer_kind})")
    tokenizer = train_tokenizer(tokenizer_kind, read_text(corpus), vocab_size if tokenizer_kind == "bpe" else None,
                                progress=True)
    tokenizer_path = out_dir / "tokenizer-train" / "tokenizer.json"
    tokenizer.save(tokenizer_path)
    console.print(f"vocabulary: {tokenizer.vocab_size} tokens -> {tokenizer_path}")

    console.rule("2/4 data")
    data_dir = out_dir / "data"
    meta = prepare([corpus], tokenizer, tokenizer_path, data_dir)
    console.print(f"{meta.train.tokens:,} train / {meta.val.tokens:,} val tokens -> {data_dir}")

    console.rule("3/4 training")
    run = run_from_preset(load_preset(preset or f"gpt-{tokenizer_kind}-quickstart"), data_dir, overrides)
    return train_lm(run, out_dir, console=console, device=device)


def _show_samples(out_dir: Path, n_samples: int, sample_tokens: int, console: Console,
                  device: torch.device | None) -> list[str]:
    console.rule("4/4 samples")
    engine, tokenizer = load_for_generation(out_dir, device)
    samples = []
    for seed in range(n_samples):
        config = SamplingConfig(max_new_tokens=sample_tokens, temperature=0.8, top_k=50, seed=seed,
                                stop_tokens=frozenset({tokenizer.eos_id} - {None}))
        text = tokenizer.decode(engine.generate(prompt_ids_for(tokenizer, ""), config))
        samples.append(text)
        console.print(text, highlight=False, markup=False)
        console.rule(style="dim")
    return samples
