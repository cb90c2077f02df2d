"""Phase 5, sequence models: RNN, LSTM, GRU and a small GPT race on char-level tinyshakespeare."""

from __future__ import annotations

import numpy as np
import torch

from lmforge.assets import tinyshakespeare_path
from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import load_meta, open_shards, prepare
from lmforge.io import atomic_write, read_text
from lmforge.labs._common import bar_chart
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.models.bigram import BigramConfig, BigramLM
from lmforge.models.registry import load_model
from lmforge.objectives.clm import causal_lm_loss
from lmforge.presets import load_preset
from lmforge.recipes.train_lm import VAL_SEED, LMRun, train_lm
from lmforge.tokenizers import train_tokenizer
from lmforge.train.trainer import TrainConfig

CONTEXT = 64  # nanoGPT's CPU shakespeare-char window
FAMILIES = {"rnn": "rnn-char", "lstm": "lstm-char", "gru": "gru-char", "gpt": "gpt-char-quickstart"}
SETUP_SHARE = 0.15  # of the budget: data preparation and the validation passes


def _val_loss(model: torch.nn.Module, data_dir: str, batches: int) -> float:
    """Mean loss (nats/char) on the same validation windows for every family, whatever its training batch."""
    sampler = RandomWindowSampler(open_shards(data_dir, "val"), CONTEXT, 32, seed=VAL_SEED)
    model.eval()
    with torch.no_grad():
        return float(np.mean([causal_lm_loss(model, sampler.next_batch()).item() for _ in range(batches)]))


@lab(id="sequence-lm-race", phase="sequence", title="RNN vs LSTM vs GRU vs GPT: a char-LM race on equal time",
     teaches=("lmforge.models.recurrent_lm", "lmforge.models.gpt", "lmforge.recipes.train_lm",
              "lmforge.train.trainer"),
     docs="docs/labs.md#sequence-lm-race", minutes=8)
def lm_race_lab(ctx: LabContext) -> LabResult:
    """Each family (its char-level preset, 0.2-0.9M parameters) trains for the same share of the budget
    with the one Trainer; validation loss on the same windows, beside the counted bigram and nanoGPT's
    published figure for the same GPT shape on CPU."""
    text = read_text(tinyshakespeare_path())
    corpus = ctx.out_dir / "corpus.txt"
    with atomic_write(corpus) as f:
        f.write(text[:50_000] if ctx.smoke else text)
    tokenizer = train_tokenizer("char", text)  # the whole corpus's characters
    tokenizer.save(ctx.out_dir / "tokenizer.json")
    data_dir = str(ctx.out_dir / "data")
    prepare([corpus], tokenizer, ctx.out_dir / "tokenizer.json", data_dir)
    val_batches = 2 if ctx.smoke else 40
    floor = _val_loss(BigramLM.from_counts(BigramConfig(vocab_size=load_meta(data_dir).vocab_size),
                                           open_shards(data_dir, "train")), data_dir, val_batches)
    minutes = ctx.budget_minutes * (1 - SETUP_SHARE) / len(FAMILIES)
    metrics: dict[str, float] = {"bigram_val_loss": floor, "minutes_per_family": minutes}
    for family, preset_name in FAMILIES.items():
        preset = load_preset(preset_name)
        lr = preset["train"]["lr"]
        train = TrainConfig(max_steps=3 if ctx.smoke else 1_000_000, lr=lr, min_lr=lr / 10,
                            warmup_steps=1 if ctx.smoke else 50, eval_interval=1_000_000, log_interval=10,
                            checkpoint_interval=1_000_000, max_minutes=minutes, seed=ctx.seed, precision="fp32")
        run = LMRun(data_dir, {**preset["model"], "context_length": CONTEXT}, train, preset["batch_size"], 1)
        ctx.console.rule(family)
        result = train_lm(run, ctx.out_dir / family, console=ctx.console)
        model = load_model(ctx.out_dir / family)
        metrics |= {f"{family}_val_loss": _val_loss(model, data_dir, val_batches), f"{family}_steps": result.steps,
                    f"{family}_params": model.num_parameters()}
    names = list(FAMILIES)
    plot = bar_chart(ctx.out_dir / "val_loss.png", ["bigram", *names],
                     [floor, *(metrics[f"{n}_val_loss"] for n in names)], "validation loss (nats/char)",
                     f"char tinyshakespeare, {minutes:.2g} min each")
    best = min(names, key=lambda n: metrics[f"{n}_val_loss"])
    return LabResult(
        headline=f"val loss (nats/char) after {minutes:.2g} min each: "
                 + ", ".join(f"{n} {metrics[f'{n}_val_loss']:.3f}" for n in names)
                 + f" (bigram counts {floor:.3f}); best: {best}",
        metrics=metrics,
        reference=Reference("nanoGPT shakespeare-char, the same 4-layer 128-wide GPT on CPU (2,000 iters, ~3 min): "
                            "val loss 1.88; 6x384 GPT on an A100 for 3 min: 1.4697",
                            "karpathy/nanoGPT README, 'I only have a macbook' and shakespeare_char sections"),
        artifacts=[plot],
        notes="Equal wall-clock time, not equal parameters or steps; a loaded CPU gives every family fewer steps.",
    )
