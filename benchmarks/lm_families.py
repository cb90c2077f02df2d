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
from lmforge.tokenizers import train_tokenizer
from lmforge.train.lm import VAL_SEED, LMRun, train_lm
from lmforge.train.trainer import TrainConfig

CONTEXT = 64  # training window for every family
BATCH_SIZE = 32
EVAL_BATCHES = 40
#: model config and peak learning rate per family; sizes are each config's defaults, except the GPT,
#: which is the quickstart's (gpt-char-quickstart): all recurrent models and the GPT are 0.2-0.9M parameters
FAMILIES: dict[str, tuple[dict, float]] = {
    "bigram": ({"family": "bigram"}, 3e-2),
    "mlp": ({"family": "mlp"}, 3e-3),
    "rnn": ({"family": "rnn"}, 3e-3),
    "lstm": ({"family": "lstm"}, 3e-3),
    "gru": ({"family": "gru"}, 3e-3),
    "gpt": ({"family": "gpt", "d_model": 128, "n_layers": 4, "n_heads": 4}, 1e-3),
}


def prepare_char_data(root: Path) -> Path:
    """Char tokenizer + train/val shards of tinyshakespeare under ``root`` (what the quickstart does)."""
    corpus = tinyshakespeare_path()
    tokenizer = train_tokenizer("char", read_text(corpus), None)
    tokenizer.save(root / "tokenizer" / "tokenizer.json")
    prepare([corpus], tokenizer, root / "tokenizer" / "tokenizer.json", root / "data")
    return root / "data"


def count_bigram_val_loss(data_dir: Path) -> float:
    """Validation loss of the counted bigram on exactly the windows the Trainer evaluates."""
    meta = load_meta(data_dir)
    model = BigramLM.from_counts(BigramConfig(vocab_size=meta.vocab_size), open_shards(data_dir, "train"))
    sampler = RandomWindowSampler(open_shards(data_dir, "val"), CONTEXT, BATCH_SIZE, seed=VAL_SEED)
    return float(np.mean([causal_lm_loss(model, sampler.next_batch()).item() for _ in range(EVAL_BATCHES)]))


def train_curve(run_dir: Path) -> tuple[list[float], list[float]]:
    """(minutes, training loss smoothed by an exponential moving average) at every logged step.

    Training loss, not validation loss, so that no family pays for evaluations
    inside its budget; at these budgets nothing overfits (the final validation
    losses in the table sit on the curves' ends).
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
    ax.legend()
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
    floor = count_bigram_val_loss(data_dir)
    rows = [["bigram (counts)", f"{load_meta(data_dir).vocab_size ** 2:,}", "-", "-", "0", f"{floor:.3f}"]]
    curves, finals = {}, {}
    for family in args.families.split(","):
        model, lr = FAMILIES[family]
        # the step limit is out of reach: the time budget ends every run; warm-up is ~1% of it;
        # one evaluation, at the end
        train = TrainConfig(max_steps=1_000_000, lr=lr, min_lr=lr / 10, warmup_steps=10_000, eval_interval=1_000_000,
                            log_interval=10, checkpoint_interval=1_000_000, max_minutes=args.minutes, seed=1337)
        run = LMRun(str(data_dir), {**model, "context_length": CONTEXT}, train, BATCH_SIZE, EVAL_BATCHES)
        console.rule(family)
        result = train_lm(run, args.work / family, console=console)
        params = load_model(args.work / family).num_parameters()
        rows.append([family, f"{params:,}", f"{result.steps:,}", f"{result.tokens_per_s:,.0f}",
                     f"{result.elapsed_s / 60:.1f}", f"{result.val_loss:.3f}"])
        curves[family] = train_curve(args.work / family)
        finals[family] = (result.elapsed_s / 60, result.val_loss)
        print(" | ".join(rows[-1]), flush=True)
    plot(curves, finals, floor, args.minutes, args.plot)
    print(f"\n{args.minutes:g} min per family, batch {BATCH_SIZE} x {CONTEXT} chars, "
          f"val loss over {EVAL_BATCHES} fixed batches; plot: {args.plot}\n")
    print(markdown_table(["family", "params", "steps", "tok/s", "minutes", "val loss (nats/char)"], rows))


if __name__ == "__main__":
    main()
