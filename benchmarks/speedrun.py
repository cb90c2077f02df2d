"""The CPU speedrun (issue #24): the quickstart's recipe, one trick at a time, each for the same minutes.

    python -m benchmarks.speedrun                    # every row, 10 minutes each (hours: needs an idle CPU)
    python -m benchmarks.speedrun --minutes 1        # a quick pass over every row
    python -m benchmarks.speedrun --rows baseline,qk_norm,muon --keep qk_norm --minutes 10
    python -m benchmarks.speedrun --minutes 3 --final-minutes 10  # rows for 3 minutes, the two final rows for 10
    python -m benchmarks.speedrun --minutes 10 --rows dropout_0.1 --no-final  # dev rows only, no final rows

Method (docs/speedrun.md explains why):

1. Data: the quickstart's char tokenizer and train/val shards of tinyshakespeare, and a *dev* split carved out of
   the end of the training tokens (``data.shards.carve_dev_split``). Rows are compared on dev only.
2. Each ablation row is the ``gpt-char-quickstart`` preset plus that row's ``--set`` overrides, trained by the one
   Trainer on the dev directory's training tokens for ``--minutes`` (time-budgeted: no step cap, the LR schedule
   ends with the budget), then scored on the whole dev split (nats/char).
3. Kept: the candidates whose dev loss beats the baseline's by more than ``--margin`` (or ``--keep a,b``); the
   ``stacked`` row trains all kept overrides together, still on dev (where two kept rows set the same option,
   the one with the lower dev loss gives its value). The recipe is the best on dev of the stack and each kept
   row alone: gains need not add up.
4. Final: the shipped quickstart and the recipe, each trained on the whole training split exactly as
   ``lmforge quickstart --max-minutes M --set ...`` does, scored once on the whole validation split, and in bits
   per byte on Edith Wharton's "The Verdict" (public domain, tests/data/verdict; not in the corpus), to show a
   gain is not a fit to Shakespeare. ``--final-minutes`` gives these two rows their own budget (rows named
   ``shipped-10min``/``final-10min``), so a quick ablation pass can still end with the full-length command.

Every finished row is appended to ``WORK/speedrun-<M>min.jsonl``; a rerun skips the rows already there (kill it
and start it again to resume). The table goes to ``WORK/speedrun-<M>min.md`` and stdout, the dev-loss curves of
the baseline, the kept rows and the final recipe to ``WORK/speedrun-<M>min.png``. Each row records the CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary
from benchmarks.lm_families import prepare_char_data
from lmforge.data.shards import carve_dev_split, load_meta, open_shards
from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.io import pyplot, read_text, save_png
from lmforge.models.registry import load_model
from lmforge.presets import load_preset
from lmforge.recipes.train_lm import run_from_preset, train_lm
from lmforge.tokenizers import CharTokenizer, load_tokenizer

PRESET = "gpt-char-quickstart"
STEP_POINT = 2000  # the table's per-step column: a step every row reaches in 3 minutes
HELD_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "verdict" / "wharton-the_verdict.txt"
#: row -> the ``--set`` overrides it adds to the quickstart preset (each alone, against the baseline)
CANDIDATES: dict[str, dict[str, Any]] = {
    "baseline": {},
    # model shape for the budget: wider, deeper, longer context (fewer steps each)
    "wider": {"d_model": 192, "n_heads": 6},
    "deeper": {"n_layers": 6},
    "context_128": {"context_length": 128},
    "context_128_batch_6": {"context_length": 128, "batch_size": 6},  # the same tokens per step as the baseline
    # batch size and the LR schedule tied to the budget
    "batch_24": {"batch_size": 24},
    "lr_2e-3": {"lr": 0.002},
    "lr_4e-3": {"lr": 0.004},
    "min_lr_0": {"min_lr": 0.0},
    "warmup_20": {"warmup_steps": 20},
    "wsd": {"lr_schedule": "wsd"},
    "no_weight_decay": {"weight_decay": 0.0},
    # regularization: ten minutes are ~8 passes over the 1M characters, so the small model starts to memorize
    "dropout_0.1": {"dropout": 0.1},
    "wider_dropout_0.1": {"d_model": 192, "n_heads": 6, "dropout": 0.1},  # more capacity, regularized
    # data order: random windows (with replacement) or every window once per pass, shuffled
    "data_order_epochs": {"data_order": "epochs"},
    # init
    "zero_init": {"zero_init_outputs": True},
    "init_std_0.01": {"init_std": 0.01},
    # architecture
    "rope": {"position": "rope"},
    "qk_norm": {"qk_norm": True},
    "relu2": {"activation": "relu2"},
    "untied": {"tie_embeddings": False},
    # optimizer, precision, compiler
    "muon": {"optimizer": "muon"},
    "bf16": {"precision": "bf16"},
    "compile": {"compile": True},  # its warm-up runs inside the budget
    # the 3-minute gains that keep AdamW's step speed, together (the 3-minute stack also had Muon, 1.8x per step)
    "adamw_stack": {"tie_embeddings": False, "lr_schedule": "wsd", "lr": 0.002, "position": "rope",
                    "activation": "relu2"},
}


def held_out_loss(model: torch.nn.Module, data_dir: Path) -> tuple[float, float]:
    """(nats/token, bits/byte) over the whole held-out split of ``data_dir`` (its ``val``: the dev split of a
    carved directory), in back-to-back windows of the model's context.

    Every token of the split is scored once (each window's first token only as context), so two rows are
    compared on exactly the same text, not on a sample of windows.
    """
    meta = load_meta(data_dir)
    ids = torch.from_numpy(np.concatenate(open_shards(data_dir, "val")).astype(np.int64))
    window = model.context_length
    result = sliding_window_perplexity(model, ids, meta.val.bytes, window, window, batch_size=32)
    return result.nats_per_token, result.bits_per_byte


def held_out_bpb(model: torch.nn.Module, run_dir: Path) -> tuple[float, float]:
    """(bits/byte on The Verdict, share of its bytes dropped): a char tokenizer cannot encode characters it never
    saw (the book's double quotes, underscores, parentheses: ~0.9%), so those are removed before scoring."""
    tokenizer = load_tokenizer(run_dir / "tokenizer.json")
    text = read_text(HELD_OUT)
    original = len(text.encode("utf-8"))
    if isinstance(tokenizer, CharTokenizer):
        alphabet = set(tokenizer.chars)
        text = "".join(c for c in text if c in alphabet)
    n_bytes, window = len(text.encode("utf-8")), model.context_length
    result = sliding_window_perplexity(model, tokenizer.encode(text), n_bytes, window, window, batch_size=32)
    return result.bits_per_byte, 1 - n_bytes / original


def train_row(name: str, overrides: dict[str, Any], data_dir: Path, split: str, out: Path, minutes: float,
              console: Console) -> dict[str, Any]:
    """One row: the quickstart preset + ``overrides`` for ``minutes``, scored on ``split`` of ``data_dir``."""
    shutil.rmtree(out, ignore_errors=True)  # a row that did not reach the JSONL starts over
    console.rule(f"{name} ({split}): {overrides or 'the quickstart preset'}")
    run = run_from_preset(load_preset(PRESET), data_dir, {**overrides, "max_minutes": minutes})
    result = train_lm(run, out, console=console)
    model = load_model(out).eval()
    loss, bpb = held_out_loss(model, data_dir)
    record = {"row": name, "overrides": overrides, "minutes": minutes, "split": split, "loss": loss, "bpb": bpb,
              "steps": result.steps, "tok_per_s": result.tokens_per_s, "elapsed_s": result.elapsed_s,
              "precision": result.precision.precision, "params": sum(p.numel() for p in model.parameters()),
              "machine": machine_summary(), "threads": torch.get_num_threads()}
    if split == "val":
        record["verdict_bpb"], record["verdict_dropped"] = held_out_bpb(model, out)
    return record


def loss_at_step(run_dir: Path, step: int) -> float | None:
    """The sampled held-out loss a row logged at ``step`` (None if it never got there): rows compared per step,
    apart from how many steps their minutes bought (which varies by +-10 % between runs of one shape here)."""
    for line in read_text(run_dir / "metrics.jsonl").splitlines():
        record = json.loads(line) if line else {}
        if record.get("step") == step and "val_loss" in record:
            return record["val_loss"]
    return None


def dev_curve(run_dir: Path) -> tuple[list[float], list[float]]:
    """(minutes, loss on sampled held-out windows) at every periodic evaluation of a row, from its metrics.jsonl
    (an evaluation's time is that of the last logged training step before it)."""
    records = [json.loads(line) for line in read_text(run_dir / "metrics.jsonl").splitlines() if line]
    points, minutes = [], 0.0
    for r in records:
        if "elapsed_s" in r:
            minutes = r["elapsed_s"] / 60
        elif "val_loss" in r:
            points.append((minutes, r["val_loss"]))
    return [m for m, _ in points], [loss for _, loss in points]


def plot(runs: Path, records: dict[str, dict[str, Any]], rows: list[str], path: Path, minutes: float) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.cm.tab20.colors  # more rows than tab10 has colours; the final rows (val) are dashed
    for i, row in enumerate(r for r in rows if r in records):
        style = "--" if records[row]["split"] == "val" else "-"
        (line,) = ax.plot(*dev_curve(runs / row), style, color=colors[i % len(colors)],
                          label=f"{row} ({records[row]['split']})")
        ax.plot(records[row]["elapsed_s"] / 60, records[row]["loss"], "o", color=line.get_color())
    ax.set_xlabel("training time (minutes, this CPU)")
    ax.set_ylabel("nats/char: sampled windows (line), whole split (dot)")
    ax.set_title(f"CPU speedrun: {minutes:g}-minute rows on dev (solid), the final rows on val (dashed)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    save_png(fig, path)


def as_set(overrides: dict[str, Any]) -> str:
    """``{"qk_norm": True, "optimizer": "muon"}`` -> ``qk_norm=true optimizer=muon`` (what --set reads back)."""
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in overrides.items())


def table(records: dict[str, dict[str, Any]], kept: list[str], runs: Path) -> str:
    base = records.get("baseline", {}).get("loss")
    base_at = loss_at_step(runs / "baseline", STEP_POINT) if "baseline" in records else None
    rows = []
    order = [*CANDIDATES, "stacked"]  # then the final rows, in the order they ran
    for name, r in sorted(records.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)):
        dev = r["split"] == "dev" and name != "baseline"
        delta = f" ({r['loss'] - base:+.3f})" if base is not None and dev else ""
        at = loss_at_step(runs / name, STEP_POINT) if (runs / name / "metrics.jsonl").is_file() else None
        at_text = "-" if at is None else f"{at:.3f}" + (f" ({at - base_at:+.3f})" if dev and base_at else "")
        verdict = f"{r['verdict_bpb']:.3f}" if "verdict_bpb" in r else "-"
        settings = as_set(r["overrides"]) or "-"
        rows.append([name, settings, r["split"], f"{r['minutes']:g}", f"{r['loss']:.3f}{delta}", at_text, verdict,
                     f"{r['steps']:,}", f"{r['tok_per_s']:,.0f}", r["precision"], "yes" if name in kept else ""])
    return markdown_table(["row", "--set", "scored on", "minutes", "loss (nats/char)",
                           f"sampled loss at step {STEP_POINT:,}", "Verdict bits/byte", "steps", "tok/s",
                           "precision", "kept"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget per row (default 10)")
    parser.add_argument("--final-minutes", type=float, default=None,
                        help="budget of the shipped and final rows on val (default: --minutes)")
    parser.add_argument("--rows", default=",".join(CANDIDATES), help="ablation rows (baseline is always run)")
    parser.add_argument("--keep", default="auto",
                        help="auto (rows beating the baseline's dev loss by --margin) or a comma list of rows")
    parser.add_argument("--margin", type=float, default=0.005, help="dev-loss gain (nats/char) a kept row needs")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--work", type=Path, default=Path("runs/speedrun"), help="data, runs and results")
    parser.add_argument("--no-final", action="store_true",
                        help="the dev rows only: no stacked row, no final rows on val (an ablation at another budget)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(stderr=True)
    print(machine_summary())
    names = ["baseline", *[r for r in args.rows.split(",") if r != "baseline"]]
    chosen = [] if args.keep == "auto" else [k for k in args.keep.split(",") if k]
    if unknown := [r for r in [*names, *chosen] if r not in CANDIDATES]:
        parser.error(f"unknown rows {unknown}; known: {', '.join(CANDIDATES)}")
    if not (args.work / "data" / "meta.json").is_file():
        prepare_char_data(args.work)
    if not (args.work / "dev-data" / "meta.json").is_file():
        carve_dev_split(args.work / "data", args.work / "dev-data")
    stem = f"speedrun-{args.minutes:g}min"
    results, runs = args.work / f"{stem}.jsonl", args.work / stem
    records = {r["row"]: r for r in map(json.loads, read_text(results).splitlines())} if results.is_file() else {}

    def row(name: str, overrides: dict[str, Any], data: str, split: str, pin: dict | None = None,
            minutes: float = args.minutes) -> dict[str, Any]:
        if records.get(name, {}).get("overrides") != overrides:  # a finished row is not rerun (delete its line
            # to redo it), unless its settings changed: the stacked and final rows when the kept set did
            settings = {**(pin or {}), **overrides}
            record = train_row(name, settings, args.work / data, split, runs / name, minutes, console)
            records[name] = {**record, "overrides": overrides}  # the pinned precision has its own column
            with results.open("a", encoding="utf-8") as f:
                f.write(json.dumps(records[name]) + "\n")
        return records[name]

    runs.mkdir(parents=True, exist_ok=True)
    baseline = row("baseline", {}, "dev-data", "dev")
    # every dev row trains in the precision `auto` chose for the baseline (timing noise on a busy machine must
    # not hand one row bf16 and the next fp32); the bf16 row overrides it, the final rows choose as users' do
    pinned = {"precision": baseline["precision"]}
    for name in names[1:]:
        row(name, CANDIDATES[name], "dev-data", "dev", pinned)
    kept = ([n for n in names[1:] if records[n]["loss"] < baseline["loss"] - args.margin] if args.keep == "auto"
            else chosen)

    def report(shown: dict[str, dict[str, Any]], plotted: list[str], footer: str = "") -> None:
        """The table of ``shown`` rows to stdout and ``WORK/<stem>.md``, the curves of ``plotted`` to the PNG."""
        text = (f"{machine_summary()}; {args.threads} threads; {args.minutes:g} min per row\n\n"
                f"{table(shown, kept, runs)}\n{footer}")
        (args.work / f"{stem}.md").write_text(text, encoding="utf-8")
        plot(runs, records, plotted, args.work / f"{stem}.png", args.minutes)
        print(text)

    if args.no_final:
        report({n: records[n] for n in names}, names)
        return
    # where kept rows set the same option (two learning rates), the row with the lower dev loss gives its value
    stacked = {k: v for name in sorted(kept, key=lambda n: -records[n]["loss"]) for k, v in CANDIDATES[name].items()}
    if len(kept) > 1:
        row("stacked", stacked, "dev-data", "dev", pinned)
    # gains need not add up: the recipe is whichever of the stack and the kept rows alone scored best on dev
    best = min([*kept, *(["stacked"] if len(kept) > 1 else [])], key=lambda n: records[n]["loss"], default=None)
    recipe = stacked if best == "stacked" else CANDIDATES[best] if best else {}
    final_minutes = args.final_minutes or args.minutes
    suffix = "" if final_minutes == args.minutes else f"-{final_minutes:g}min"
    row(f"shipped{suffix}", {}, "data", "val", minutes=final_minutes)  # the quickstart as it is today
    if kept:
        row(f"final{suffix}", recipe, "data", "val", minutes=final_minutes)
    command = f"lmforge quickstart --max-minutes {final_minutes:g}" + "".join(
        f" --set {item}" for item in as_set(recipe).split())
    report(records, ["baseline", *kept, *(["stacked"] if len(kept) > 1 else []), f"shipped{suffix}", f"final{suffix}"],
           f"\nfinal recipe: `{command}`\n")


if __name__ == "__main__":
    main()
