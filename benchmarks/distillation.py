"""Logit distillation: a small student trained with a teacher's soft targets vs the same student without.

    python -m benchmarks.distillation [--teacher-steps 400] [--student-steps 200]

Character-level tinyshakespeare (the quickstart's data). The teacher (4 layers, width 128) is trained
first; then two students with the same architecture (1 layer, width 64), the same initial weights, the
same batches and the same number of steps: one on cross-entropy alone, one on
``objectives.distill.distillation_loss`` (T = 2, alpha = 0.5). All through the one Trainer; each model's
cross-entropy on the same windows of the held-out 10 % of the text.
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from lmforge.assets import tinyshakespeare_path
from lmforge.data.sampler import RandomWindowSampler
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.objectives.clm import causal_lm_loss
from lmforge.objectives.distill import distillation_loss
from lmforge.tokenizers import CharTokenizer
from lmforge.train.trainer import TrainConfig, Trainer

CONTEXT, BATCH = 64, 16


def train(model: GPT, steps: int, train_ids: np.ndarray, val_ids: np.ndarray, out: Path, loss_fn) -> float:
    config = TrainConfig(max_steps=steps, lr=3e-3, min_lr=3e-4, warmup_steps=20, eval_interval=steps,
                         log_interval=max(steps // 4, 1), checkpoint_interval=10**9, precision="fp32", seed=0)
    val = [RandomWindowSampler([val_ids], CONTEXT, BATCH, seed=99).next_batch() for _ in range(8)]
    Trainer(model, config, RandomWindowSampler([train_ids], CONTEXT, BATCH, seed=0), out,
            val_batches=lambda: val, loss_fn=loss_fn).fit()
    with torch.no_grad():  # the Trainer's own validation uses loss_fn: cross-entropy is what compares
        return sum(causal_lm_loss(model.eval(), batch).item() for batch in val) / len(val)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher-steps", type=int, default=400)
    parser.add_argument("--student-steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_summary(), f"torch {torch.__version__}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f} at start\n")
    text = tinyshakespeare_path().read_text(encoding="utf-8")
    tokenizer = CharTokenizer.train(text)
    ids = np.array(tokenizer.encode(text), dtype=np.int64)
    split = int(0.9 * len(ids))
    train_ids, val_ids = ids[:split], ids[split:]

    def gpt(n_layers: int, d_model: int, n_heads: int) -> GPT:
        torch.manual_seed(0)
        return GPT(GPTConfig(vocab_size=tokenizer.vocab_size, context_length=CONTEXT, d_model=d_model,
                             n_layers=n_layers, n_heads=n_heads))

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        teacher = gpt(4, 128, 4)
        teacher_loss = train(teacher, args.teacher_steps, train_ids, val_ids, Path(scratch) / "t", causal_lm_loss)
        rows.append(["teacher (L4, d128)", f"{teacher.num_parameters():,}", str(args.teacher_steps),
                     "cross-entropy", f"{teacher_loss:.4f}"])
        student = gpt(1, 64, 2)
        for name, loss_fn in [("cross-entropy", causal_lm_loss),
                              ("distillation (T=2, alpha=0.5)", distillation_loss(teacher, 2.0, 0.5))]:
            loss = train(copy.deepcopy(student), args.student_steps, train_ids, val_ids, Path(scratch) / name, loss_fn)
            rows.append(["student (L1, d64)", f"{student.num_parameters():,}", str(args.student_steps), name,
                         f"{loss:.4f}"])
            print(rows[-1], flush=True)
    print(markdown_table(["model", "parameters", "steps", "loss", "val nats/char"], rows))
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
