"""One process with 2 threads vs 2 DDP processes with 1 thread each, on the quickstart model.

A third side, one process with one thread, shows what either gains over a single core.

    python -m benchmarks.distributed_cpu [--steps 200] [--rounds 2] [--preset gpt-char-quickstart]

Both sides run the real command (``lmforge train`` and ``torchrun --nproc_per_node=2 -m lmforge train``) on the
same data with the same global batch (the preset's ``--batch-size``, split 2 ways under torchrun), fp32, and
read tokens/s from the run's ``metrics.jsonl`` (the mean of the logged windows after step 1, as ``lmforge
train`` reports it: for DDP, the global batch's tokens). The sides alternate for ``--rounds`` rounds and each
keeps its best round, so a load change mid-run does not favour one side. Wall time includes process start.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary

SIDES = {
    "1 process x 2 threads": (["-m", "lmforge"], "2"),
    "2 processes (DDP, gloo) x 1 thread": (["-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "lmforge"], "1"),
    "1 process x 1 thread (reference)": (["-m", "lmforge"], "1"),
}


def prepare_data(root: Path) -> Path:
    """The quickstart's char-level tinyshakespeare shards."""
    from lmforge.assets import tinyshakespeare_path
    from lmforge.data.shards import prepare
    from lmforge.tokenizers import train_tokenizer

    text = tinyshakespeare_path().read_text(encoding="utf-8")
    tokenizer = train_tokenizer("char", text)
    tokenizer.save(root / "tokenizer.json")
    prepare([tinyshakespeare_path()], tokenizer, root / "tokenizer.json", root / "data")
    return root / "data"


def run_side(launcher: list[str], threads: str, data: Path, out: Path, preset: str, steps: int) -> tuple[float, float]:
    """(tokens/s as the run logged them, wall seconds of the whole command)."""
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    start = time.perf_counter()
    subprocess.run([sys.executable, *launcher, "train", "--data", str(data), "--out", str(out), "--preset", preset,
                    "--max-steps", str(steps), "--precision", "fp32"], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["tok_per_s"] for r in rows if "tok_per_s" in r and r["step"] > 1]
    return sum(speeds) / len(speeds), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preset", default="gpt-char-quickstart")
    args = parser.parse_args()
    print(machine_summary())
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare_data(Path(tmp))
        best: dict[str, tuple[float, float]] = {}
        for round_ in range(args.rounds):
            for side, (name, (launcher, threads)) in enumerate(SIDES.items()):
                tok_s, wall = run_side(launcher, threads, data, Path(tmp) / f"{round_}-{side}", args.preset,
                                       args.steps)
                best[name] = max(best.get(name, (0.0, 0.0)), (tok_s, wall), key=lambda pair: pair[0])
    base = best[next(iter(SIDES))][0]
    rows = [[name, f"{tok_s:,.0f}", f"{tok_s / base:.2f}x", f"{wall:.0f}"] for name, (tok_s, wall) in best.items()]
    print(f"{args.preset}, {args.steps} steps, best of {args.rounds} rounds")
    print(markdown_table(["launch", "tok/s", "vs 1 process", f"wall s ({args.steps} steps, with start-up)"], rows))


if __name__ == "__main__":
    main()
