"""DPO vs GRPO vs PPO on the same model, time budget and verifiable task (arithmetic with exact answers).

    python -m benchmarks.rlhf_compare dpo --minutes 10 --out runs/rlhf/dpo
    lmforge finetune grpo --model DIR --out runs/rlhf/grpo --max-minutes 10 ...   (the command in docs/rlhf.md)
    lmforge finetune ppo  --model DIR --out runs/rlhf/ppo  --max-minutes 10 ...
    python -m benchmarks.rlhf_compare table runs/rlhf/grpo runs/rlhf/ppo runs/rlhf/dpo

GRPO and PPO are the ``lmforge finetune`` commands themselves (they write ``rl_result.json``). DPO needs pairs,
which this script makes from the model's own samples: for training problems (never the held-out ones) it samples
4 replies each at temperature 1 and keeps the best-scored as *chosen*, the worst as *rejected* when they differ.
Sampling takes the first half of the budget, DPO training (LoRA, same rank, learning rate and steps as the RL
runs) the rest; then the held-out problems are answered greedily and scored exactly as the RL runs score them.
The table puts the three side by side with the samples each consumed. Model: SmolLM2-135M-Instruct (``--model``
for another lmforge chat model).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from rich.console import Console

from benchmarks._common import markdown_table
from benchmarks._machine import machine_summary

KEYS = ("eval_reward", "eval_exact_match", "eval_correct", "eval_format", "eval_length")


def run_dpo(model_dir: Path, out: Path, minutes: float, steps: int, lr: float, n_eval: int, max_operand: int,
            seed: int) -> dict:
    from lmforge.peft import LoraConfig
    from lmforge.tasks.arithmetic import ProblemStream, held_out_problems
    from lmforge.tasks.preference import DPOConfig, finetune_dpo
    from lmforge.tasks.rl import Sampler, evaluate_replies, sampled_preference_pairs
    from lmforge.tasks.sft import AdapterConfig, load_chat_model
    from lmforge.train.trainer import TrainConfig

    start = time.perf_counter()
    model, tokenizer, template = load_chat_model(model_dir)
    held_out = held_out_problems(n_eval, max_operand)
    problems = ProblemStream(max_operand, held_out, seed)
    sampler = Sampler(tokenizer, template, max_new_tokens=12)
    records, sampled = [], 0
    while time.perf_counter() - start < 30 * minutes:  # the first half of the budget: pairs from own samples
        records += sampled_preference_pairs(model, sampler, problems, 1, 4, 1.0, seed + sampled)
        sampled += 1
    if len(records) < 2:
        raise SystemExit(f"only {len(records)} pairs from {sampled} problems: too few to train on")
    sampling_s = time.perf_counter() - start
    train = TrainConfig(max_steps=steps, lr=lr, min_lr=lr / 10, warmup_steps=max(1, steps // 10),
                        eval_interval=steps, checkpoint_interval=steps, log_interval=1,
                        max_minutes=minutes - sampling_s / 60, precision="fp32", seed=seed)
    adapters = AdapterConfig("lora", LoraConfig(8, 16.0, 0.0, ["qkv", "proj", "up", "down", "gate_up"]))
    config = DPOConfig(beta=0.1, max_len=128, batch_size=4, train=train, adapters=adapters)
    # the held-out *problems* are what counts; DPO's own held-out pair log only needs one pair
    dpo = finetune_dpo(model, tokenizer, template, records[:-1], records[-1:], out, config, source_dir=model_dir,
                       console=Console(stderr=True))
    _, after = evaluate_replies(model, sampler, held_out)
    result = {"algorithm": "dpo", "after": after, "pairs": len(records), "problems_sampled": sampled,
              "replies_sampled": 4 * sampled, "sampling_s": sampling_s, "steps": dpo.train.steps,
              "elapsed_s": time.perf_counter() - start}
    (out / "compare_result.json").write_text(json.dumps(result, indent=1))
    return result


def table(run_dirs: list[Path]) -> str:
    rows = []
    for d in run_dirs:
        if (d / "rl_result.json").is_file():
            r = json.loads((d / "rl_result.json").read_text())
            before, after = r["evals"][0], r["evals"][-1]
            replies = len(r["rollouts"]) * r["config"]["prompts_per_step"] * r["config"]["group_size"]
            needs = "reward function" if r["algorithm"] == "grpo" else "reward function + value head"
            rows.append([r["algorithm"].upper(), needs, str(r["steps"]), str(replies), *_pair(before, after),
                         f"{r['kl'][-1][1]:.4f}" if r["kl"] else "-", f"{r['elapsed_s'] / 60:.1f}"])
        else:
            r = json.loads((d / "compare_result.json").read_text())
            rows.append(["DPO", f"pairs ({r['pairs']} from own samples)", str(r["steps"]), str(r["replies_sampled"]),
                         *_pair(None, r["after"]), "-", f"{r['elapsed_s'] / 60:.1f}"])
    return markdown_table(["method", "needs", "steps", "replies sampled", "reward", "exact match", "correct",
                           "bare number", "length (tokens)", "KL to ref", "minutes"], rows)


def _pair(before: dict | None, after: dict) -> list[str]:
    def fmt(key: str, v: float) -> str:
        return {"eval_reward": f"{v:.3f}", "eval_length": f"{v:.1f}"}.get(key, f"{v:.0%}")
    return [(f"{fmt(k, before[k])} -> " if before else "") + fmt(k, after[k]) for k in KEYS]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dpo = sub.add_parser("dpo", help="sample pairs, DPO-train, score the held-out problems")
    dpo.add_argument("--model", type=Path, default=None)
    dpo.add_argument("--out", type=Path, required=True)
    dpo.add_argument("--minutes", type=float, default=10.0)
    dpo.add_argument("--steps", type=int, default=40)
    dpo.add_argument("--lr", type=float, default=5e-4)
    dpo.add_argument("--eval-problems", type=int, default=16)
    dpo.add_argument("--max-operand", type=int, default=20)
    dpo.add_argument("--seed", type=int, default=0)
    tab = sub.add_parser("table", help="the side-by-side table of finished runs")
    tab.add_argument("runs", type=Path, nargs="+")
    args = parser.parse_args(argv)
    print(machine_summary(), file=sys.stderr)
    if args.command == "table":
        print(table(args.runs))
        return
    from lmforge.interop.convert import smollm2_dir

    torch.manual_seed(args.seed)
    result = run_dpo(args.model or smollm2_dir(), args.out, args.minutes, args.steps, args.lr, args.eval_problems,
                     args.max_operand, args.seed)
    print(json.dumps({k: v for k, v in result.items() if k != "after"}))
    print(json.dumps({k: result["after"][k] for k in KEYS}))


if __name__ == "__main__":
    main()
