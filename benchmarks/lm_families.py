"""Language-model families on the same data and the same CPU time: bigram -> MLP -> RNN/LSTM/GRU -> GPT.

    python -m benchmarks.lm_families [--minutes 5] [--families bigram,mlp,rnn,lstm,gru,gpt]

Char-level tinyshakespeare (the quickstart's data: same tokenizer, shards and
validation windows), each family trained by the one Trainer for a fixed time
budget with the LR schedule ending when the budget does. Prints a markdown table
(params, steps, tok/s, validation loss) and writes one loss-vs-time PNG with
every family. The counted bigram (no training, add-one smoothing) is the floor
every learned model should pass.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.assets import tinyshakespeare_path
from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import load_meta, open_shards, prepare
from lmforge.io import read_text
from lmforge.models.bigram import BigramConfig, BigramLM
from lmforge.models.registry import load_model
from lmforge.objectives.clm import causal_lm_loss
from lmforge.presets import load_preset
from lmforge.recipes.train_lm import VAL_SEED, LMRun, train_lm
from lmforge.tokenizers import train_tokenizer
from lmforge.train.trainer import TrainConfig

CONTEXT = 64  # training window for every family
EVAL_BATCHES = 40
EVAL_BATCH_SIZE = 32  # validation batches are the same for every family, whatever its training batch size
#: each family's model, peak learning rate and batch size come from its char-level preset (``lmforge train
#: --preset NAME`` trains the same thing); all learned models are 0.2-0.9M parameters. The GPT keeps its
#: quickstart batch of 12 windows (more, smaller steps suit it in minutes of CPU); the others use 32.
FAMILIES: dict[str, str] = {
    "bigram": "bigram-char",
    "mlp": "mlp-char",
    "rnn": "rnn-char",
    "lstm": "lstm-char",
    "gru": "gru-char",
    "gpt": "gpt-char-quickstart",
}


def prepare_char_data(root: Path) -> Path:
    """Char tokenizer + train/val shards of tinyshakespeare under ``root`` (what the quickstart does)."""
    corpus = tinyshakespeare_path()
    tokenizer = train_tokenizer("char", read_text(corpus), None)
    tokenizer.save(root / "tokenizer" / "tokenizer.json")
    prepare([corpus], tokenizer, root / "tokenizer" / "tokenizer.json", root / "data")
    return root / "data"


def fixed_val_loss(model: torch.nn.Module, data_dir: Path) -> float:
    """Validation loss on exactly the same windows for every model, whatever batch size it trained with."""
    sampler = RandomWindowSampler(open_shards(data_dir, "val"), CONTEXT, EVAL_BATCH_SIZE, seed=VAL_SEED)
    model.eval()
    with torch.no_grad():
        return float(np.mean([causal_lm_loss(model, sampler.next_batch()).item() for _ in range(EVAL_BATCHES)]))


def train_curve(run_dir: Path) -> tuple[list[float], list[float]]:
    """(minutes, training loss smoothed by an exponential moving average) at every logged step.

    Training loss, not validation loss, so that no family pays for evaluations
    inside its budget. Validation sits ~0.17 nats above the curves' ends for every
    family alike: the validation text is the corpus's last plays, not a random sample.
    """
    records = [json.loads(line) for line in read_text(run_dir / "metrics.jsonl").splitlines() if line]
    minutes, losses, ema = [], [], None
    for r in records:
        if "loss" in r:
            ema = r["loss"] if ema is None else 0.7 * ema + 0.3 * r["loss"]
            minutes.append(r["elapsed_s"] / 60)
            losses.append(ema)
    return minutes, losses


def plot(curves: dict[str, tuple[list[float], list[float]]], finals: dict[str, tuple[float, float]], floor: float,
         minutes: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for family, (times, losses) in curves.items():
        (line,) = ax.plot(times, losses, label=family)
        ax.plot(*finals[family], "o", color=line.get_color())
    ax.axhline(floor, color="gray", linestyle="--", label="bigram (counts)")
    ax.set_xlabel("training time (minutes, this CPU)")
    ax.set_ylabel("nats/char: train (line), validation (dot)")
    ax.set_ylim(top=floor + 0.5)
    ax.set_title(f"char-level tinyshakespeare, {minutes:g} min per family")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training time budget per family")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--work", type=Path, default=Path("runs/lm_families"), help="data and run directories")
    parser.add_argument("--plot", type=Path, default=Path("docs/sequence-models-lm-families.png"))
    args = parser.parse_args()
    print(machine_summary())
    console = Console(stderr=True)
    data_dir = prepare_char_data(args.work)
    vocab_size = load_meta(data_dir).vocab_size
    counts = BigramLM.from_counts(BigramConfig(vocab_size=vocab_size), open_shards(data_dir, "train"))
    floor = fixed_val_loss(counts, data_dir)  # the counted bigram (add-one smoothing): no training
    rows = [["bigram (counts)", f"{vocab_size ** 2:,}", "-", "-", "-", "0", f"{floor:.3f}"]]
    curves, finals = {}, {}
    for family in args.families.split(","):
        preset = load_preset(FAMILIES[family])
        lr = preset["train"]["lr"]
        # no step limit: the time budget ends every run (warm-up: its first 100 steps);
        # the table's validation loss is measured afterwards, on the same windows for every family
        train = TrainConfig(max_steps=None, lr=lr, min_lr=lr / 10, warmup_steps=100, eval_interval=1_000_000,
                            log_interval=10, checkpoint_interval=1_000_000, max_minutes=args.minutes, seed=1337)
        run = LMRun(str(data_dir), {**preset["model"], "context_length": CONTEXT}, train, preset["batch_size"],
                    EVAL_BATCHES)
        console.rule(family)
        result = train_lm(run, args.work / family, console=console)
        model = load_model(args.work / family)
        val_loss = fixed_val_loss(model, data_dir)
        rows.append([family, f"{model.num_parameters():,}", str(preset["batch_size"]), f"{result.steps:,}",
                     f"{result.tokens_per_s:,.0f}", f"{result.elapsed_s / 60:.1f}", f"{val_loss:.3f}"])
        curves[family] = train_curve(args.work / family)
        finals[family] = (result.elapsed_s / 60, val_loss)
        print(" | ".join(rows[-1]), flush=True)
    plot(curves, finals, floor, args.minutes, args.plot)
    print(f"\n{args.minutes:g} min per family, windows of {CONTEXT} chars, val loss over the same {EVAL_BATCHES} "
          f"batches of {EVAL_BATCH_SIZE} windows for all; {torch.get_num_threads()} threads; plot: {args.plot}\n")
    print(markdown_table(["family", "params", "batch", "steps", "tok/s", "minutes", "val loss (nats/char)"], rows))


if __name__ == "__main__":
    main()
