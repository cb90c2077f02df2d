"""English->French with a GRU encoder-decoder: attention vs none, greedy vs beam, same data and training.

    python -m benchmarks.translation [--max-steps 2069 | --minutes 3] [--attention bahdanau,general,none] [--beam 5]

Each model trains with the one Trainer on the fixed split of tests/data/eng_fra
(Tatoeba, split by English sentence so no test sentence was seen in training),
for the same number of steps (``--max-steps``: comparable on a busy machine) or
the same wall-clock budget (``--minutes``), then is scored with sacreBLEU on the
test split (every French translation of a test sentence is a reference). The
headline is cased BLEU of the translator's output (capitals restored by its
truecaser) against the original sentences; beside it the lowercased score and
the cased score of the raw lowercase model output, i.e. what the truecaser buys.
The reference implementation here is the task itself: the no-attention model is
the baseline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.data.pairs import detokenize, references_by_source, tokenize
from lmforge.data.translation import DataConfig
from lmforge.evaluate.bleu import BleuScores
from lmforge.models.seq2seq import Seq2SeqConfig
from lmforge.recipes.translate_train import train_translator
from lmforge.recipes.translator import Translator, plot_attention
from lmforge.train.trainer import TrainConfig

DATA = Path(__file__).parents[1] / "tests" / "data" / "eng_fra" / "eng-fra_first20k_train.txt"
SAMPLES = ["I am not afraid of anything.", "We are going to the beach.", "Is he your brother?"]


def score(translator: Translator, sources: Sequence[str], references: Sequence[Sequence[str]], beam: int,
          length_penalty: float) -> tuple[BleuScores, float, float]:
    """(cased and lowercased BLEU, cased BLEU of the lowercase model output, sentences per second)."""
    start = time.perf_counter()
    texts = [t.text for t in translator.translate_many(sources, beam, length_penalty)]
    speed = len(sources) / (time.perf_counter() - start)
    lowercase_output = [detokenize(tokenize(text)) for text in texts]  # what the model wrote, before truecasing
    return BleuScores.of(texts, references), BleuScores.of(lowercase_output, references).cased, speed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--max-steps", type=int, default=None, help="optimizer steps per model")
    budget.add_argument("--minutes", type=float, default=None, help="training time per model (default 3)")
    parser.add_argument("--attention", default="bahdanau,general,none", help="comma-separated attention kinds")
    parser.add_argument("--cell", default="gru", choices=["gru", "lstm"])
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--heatmap", type=Path, default=None, help="write the first attention model's heatmap here")
    args = parser.parse_args()
    minutes = None if args.max_steps is not None else args.minutes or 3.0

    print(machine_summary())
    budget_text = f"{args.max_steps:,} steps" if args.max_steps is not None else f"{minutes:g} min"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; budget {budget_text} per model\n")
    data = DataConfig(str(DATA))
    rows, sample_lines = [], []
    for kind in args.attention.split(","):
        model_config = Seq2SeqConfig(cell=args.cell, attention=kind)  # type: ignore[arg-type]
        train_config = TrainConfig(max_steps=args.max_steps or 1_000_000, max_minutes=minutes, lr=args.lr,
                                   min_lr=args.lr / 10, warmup_steps=100, eval_interval=10_000, log_interval=50,
                                   checkpoint_interval=1_000_000, precision="fp32", seed=0)  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            translator, result, split = train_translator(data, model_config, train_config, out,
                                                         console=Console(stderr=True, quiet=True))
        sources, references = references_by_source(split.test)
        greedy, greedy_raw, greedy_speed = score(translator, sources, references, 1, 0.0)
        beam, beam_raw, beam_speed = score(translator, sources, references, args.beam, args.length_penalty)
        params = sum(p.numel() for p in translator.model.parameters())
        rows.append([f"{args.cell} + {kind}", f"{params / 1e6:.2f}M", f"{result.steps:,}", f"{result.val_loss:.3f}",
                     f"{greedy.cased:.1f}", f"{beam.cased:.1f}", f"{greedy.lowercased:.1f}", f"{beam.lowercased:.1f}",
                     f"{greedy_raw:.1f}", f"{beam_raw:.1f}", f"{greedy_speed:,.0f}", f"{beam_speed:,.0f}"])  # fmt: skip
        for text in SAMPLES:
            translation = translator.translate(text, args.beam, args.length_penalty)
            sample_lines.append(f"- {kind}: {text} -> {translation.text}")
        if args.heatmap is not None and kind != "none":
            plot_attention(translator.translate(SAMPLES[0], args.beam, args.length_penalty), args.heatmap)
            args.heatmap = None
        print(f"done: {kind} ({result.steps} steps)", flush=True)

    print(f"\ndata: {len(split.train):,} train / {len(split.dev):,} dev / {len(split.test):,} test pairs "
          f"({len(sources):,} distinct test sentences), word vocab min_freq {data.min_freq}\n")
    b = f"beam {args.beam}"
    print(markdown_table(["model", "params", "steps", "dev loss", "BLEU greedy", f"BLEU {b}", "lowercased greedy",
                          f"lowercased {b}", "no truecaser greedy", f"no truecaser {b}", "greedy sent/s",
                          f"{b} sent/s"], rows))  # fmt: skip
    print(f"\nbeam length penalty alpha = {args.length_penalty}; BLEU = sacreBLEU 13a, multi-reference, against the "
          "original cased sentences: cased (the standard score), lowercased (capitals ignored), and cased for the "
          "lowercase model output without the truecaser (as lmforge printed it before)\n")
    print("\n".join(sample_lines))


if __name__ == "__main__":
    main()
