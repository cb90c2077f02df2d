"""Extractive QA (SQuAD v1.1) learning curve: held-out F1 against training time, wall and CPU.

    OMP_NUM_THREADS=2 python -m benchmarks.qa_curve --steps 1200 --every 150 --out runs/qa_curve
    python -m benchmarks.qa_curve --out runs/qa_curve --eval-only     # re-score the saved checkpoints

MiniLM-L6 (all-MiniLM-L6-v2) + a start/end head, trained on the first 20 articles of the shared
SQuAD dev half and scored (EM / F1, the official v1.1 definitions) on the last 4 articles, which
share no context with training. A checkpoint is kept every ``--every`` steps; they are scored
*after* training, so scoring costs no training time. "CPU s" is the process's CPU time (all
threads), which on a shared machine is the fairer clock; "wall s" is what the run took here.

Writes ``curve.jsonl``, ``curve.png`` and a markdown table; the last checkpoint is saved as a
task-model directory (``lmforge predict OUT "question" --context ...``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.data.annotated import read_squad
from lmforge.evaluate.squad import squad_scores
from lmforge.io import write_json
from lmforge.models.registry import load_weights
from lmforge.seeding import seed_everything
from lmforge.tasks.backbone import load_backbone, minilm_dir
from lmforge.tasks.batching import ExampleBatches
from lmforge.tasks.codec import Codec
from lmforge.tasks.data import split_squad_by_article
from lmforge.tasks.heads import TaskConfig, TaskModel, backbone_config
from lmforge.tasks.qa import collate_windows, make_windows, predict_answers, qa_loss
from lmforge.tasks.training import FinetuneConfig, run_trainer
from lmforge.tokenizers.base import TOKENIZER_FILE

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad_v11" / "squad_v11_dev_part1.json"


def _data(eval_articles: int):
    return split_squad_by_article(read_squad(SQUAD), eval_articles)


def train(out: Path, args: argparse.Namespace) -> None:
    """Fine-tune, logging (wall, CPU) seconds at the start of every step and at the end."""
    train_set, _ = _data(args.eval_articles)
    backbone, tokenizer = load_backbone(minilm_dir())
    codec = Codec.for_tokenizer(tokenizer)
    # with --minutes the LR schedule follows the clock and --steps is only an upper bound
    config = FinetuneConfig(lr=args.lr, batch_size=args.batch_size, max_steps=None if args.minutes else args.steps,
                            max_minutes=args.minutes, checkpoint_every=args.every, warmup_fraction=args.warmup,
                            seed=args.seed, precision=args.precision)
    seed_everything(config.seed)
    model = TaskModel(TaskConfig(backbone_config(backbone), "qa", ["start", "end"], "none", config.dropout), backbone)
    windows, _ = make_windows(codec, train_set, args.max_len, args.stride)
    batches = ExampleBatches(windows, config.batch_size, collate_windows(codec.pad_id), seed=config.seed)
    clock: list[tuple[float, float]] = []
    wall0, cpu0 = time.perf_counter(), time.process_time()

    def timed_loss(m, batch):
        clock.append((time.perf_counter() - wall0, time.process_time() - cpu0))
        return qa_loss(m, batch)

    run_trainer(model, batches, timed_loss, out, config, args.steps)
    clock.append((time.perf_counter() - wall0, time.process_time() - cpu0))
    tokenizer.save(out / TOKENIZER_FILE)
    write_json(out / "task.json", {"task": "qa", "max_len": args.max_len, "stride": args.stride})
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    write_json(out / "clock.json", {"n_train_windows": len(windows), "clock": clock, "settings": settings})


def evaluate(out: Path, args: argparse.Namespace) -> list[dict]:
    """Score every kept checkpoint on the first ``--max-eval`` held-out questions (default: all)."""
    test_set = _data(args.eval_articles)[1][:args.max_eval]
    backbone, tokenizer = load_backbone(minilm_dir())
    codec = Codec.for_tokenizer(tokenizer)
    clock = json.loads((out / "clock.json").read_text())["clock"]
    model = TaskModel(TaskConfig(backbone_config(backbone), "qa", ["start", "end"], "none"), backbone).eval()
    rows = []
    for ckpt in sorted((out / "checkpoints").glob("step-*")):
        step = int(ckpt.name.removeprefix("step-"))
        load_weights(model, ckpt / "model.safetensors")
        predicted = predict_answers(model, codec, test_set, args.max_len, args.stride)
        scores = squad_scores(predicted, [ex.answers for ex in test_set])
        wall, cpu = clock[min(step, len(clock) - 1)]
        rows.append({"step": step, "wall_s": wall, "cpu_s": cpu, "n_eval": len(test_set), **scores})
        print(json.dumps(rows[-1]), flush=True)
    with open(out / "curve.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return rows


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["cpu_s"] / 60 for r in rows], [r["f1"] for r in rows], "o-", label="F1")
    ax.plot([r["cpu_s"] / 60 for r in rows], [r["exact_match"] for r in rows], "s--", label="exact match")
    ax.axhline(50, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("training CPU minutes (process, all threads)")
    ax.set_ylabel("held-out SQuAD v1.1 score (%)")
    ax.set_title("MiniLM-L6 extractive QA, 4 held-out articles")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--every", type=int, default=150)
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget (the LR follows it)")
    p.add_argument("--max-eval", type=int, default=None, help="score the first N held-out questions")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-len", type=int, default=256)
    p.add_argument("--stride", type=int, default=96)
    p.add_argument("--eval-articles", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16 autocast pays off on CPUs with AVX-512-BF16/AMX (measure: benchmarks.train_speed)")
    p.add_argument("--eval-only", action="store_true")
    args = p.parse_args()
    print(machine_summary(), f"torch threads {torch.get_num_threads()}", flush=True)
    if not args.eval_only:
        train(args.out, args)
    rows = evaluate(args.out, args)
    plot(rows, args.out / "curve.png")
    print(markdown_table(["step", "wall s", "CPU s", "EM", "F1"],
                         [[str(r["step"]), f"{r['wall_s']:.0f}", f"{r['cpu_s']:.0f}", f"{r['exact_match']:.2f}",
                           f"{r['f1']:.2f}"] for r in rows]))


if __name__ == "__main__":
    main()
