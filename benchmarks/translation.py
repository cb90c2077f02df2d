"""English->French with a GRU encoder-decoder: attention vs none, greedy vs beam, same data and time budget.

    python -m benchmarks.translation [--minutes 3] [--attention bahdanau,general,none] [--beam 5]

Each model trains for the same wall-clock budget with the one Trainer on the
fixed split of tests/data/eng_fra (Tatoeba, split by English sentence so no test
sentence was seen in training), then is scored with sacreBLEU on the test split
(every French translation of a test sentence is a reference). The reference
implementation here is the task itself: the no-attention model is the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.data.pairs import references_by_source
from lmforge.models.seq2seq import Seq2SeqConfig
from lmforge.models.seq2seq_train import DataConfig, train_translator
from lmforge.models.seq2seq_translate import plot_attention
from lmforge.train.trainer import TrainConfig

DATA = Path(__file__).parents[1] / "tests" / "data" / "eng_fra" / "eng-fra_first20k_train.txt"
SAMPLES = ["I am not afraid of anything.", "We are going to the beach.", "Is he your brother?"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="training budget per model")
    parser.add_argument("--attention", default="bahdanau,general,none", help="comma-separated attention kinds")
    parser.add_argument("--cell", default="gru", choices=["gru", "lstm"])
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--heatmap", type=Path, default=None, help="write the first attention model's heatmap here")
    args = parser.parse_args()

    print(machine_summary())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; budget {args.minutes:g} min per model\n")
    data = DataConfig(str(DATA))
    rows, sample_lines = [], []
    for kind in args.attention.split(","):
        model_config = Seq2SeqConfig(cell=args.cell, attention=kind)  # type: ignore[arg-type]
        train_config = TrainConfig(max_steps=1_000_000, max_minutes=args.minutes, lr=args.lr, min_lr=args.lr / 10,
                                   warmup_steps=100, eval_interval=10_000, log_interval=50,
                                   checkpoint_interval=1_000_000, precision="fp32", seed=0)  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            translator, result, split = train_translator(data, model_config, train_config, out,
                                                         console=Console(stderr=True, quiet=True))
        test_sources = references_by_source(split.test)[0]
        start = time.perf_counter()
        greedy = translator.bleu(split.test)
        greedy_s = time.perf_counter() - start
        start = time.perf_counter()
        beam = translator.bleu(split.test, args.beam, args.length_penalty)
        beam_s = time.perf_counter() - start
        params = sum(p.numel() for p in translator.model.parameters())
        rows.append([f"{args.cell} + {kind}", f"{params / 1e6:.2f}M", f"{result.steps:,}", f"{result.val_loss:.3f}",
                     f"{greedy:.1f}", f"{beam:.1f}", f"{len(test_sources) / greedy_s:,.0f}",
                     f"{len(test_sources) / beam_s:,.0f}"])  # fmt: skip
        for text in SAMPLES:
            translation = translator.translate(text, args.beam, args.length_penalty)
            sample_lines.append(f"- {kind}: {text} -> {translation.text}")
        if args.heatmap is not None and kind != "none":
            plot_attention(translator.translate(SAMPLES[0], args.beam, args.length_penalty), args.heatmap)
            args.heatmap = None
        print(f"done: {kind} ({result.steps} steps)", flush=True)

    print(f"\ndata: {len(split.train):,} train / {len(split.dev):,} dev / {len(split.test):,} test pairs "
          f"({len(test_sources):,} distinct test sentences), word vocab min_freq {data.min_freq}\n")
    print(markdown_table(["model", "params", "steps", "dev loss", "BLEU greedy", f"BLEU beam {args.beam}",
                          "greedy sent/s", "beam sent/s"], rows))  # fmt: skip
    print(f"\nbeam length penalty alpha = {args.length_penalty}; BLEU = sacreBLEU 13a, lowercased, multi-reference\n")
    print("\n".join(sample_lines))


if __name__ == "__main__":
    main()
