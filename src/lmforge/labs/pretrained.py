"""Phase 7, pretrained LMs: a BERT (masked LM) and a GPT (causal LM) pretrained on the same text, compared."""

from __future__ import annotations

import torch

from lmforge.data.sampler import RandomWindowSampler
from lmforge.data.shards import load_meta, open_shards
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.io import write_text
from lmforge.labs._common import bar_chart
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.models.registry import load_model
from lmforge.objectives.masking import SpecialIds
from lmforge.recipes.pretrain import bundled_data, pretrain
from lmforge.tokenizers import load_tokenizer

WINDOW, POSITION = 48, 32  # held-out windows of 48 chars; the char at index 32 is hidden


@torch.no_grad()
def _accuracies(bert: torch.nn.Module, gpt: torch.nn.Module, windows: torch.Tensor,
                special: SpecialIds) -> dict[str, float]:
    """How often each model's top guess is the hidden char: BERT with both sides or the left side only, GPT left."""
    B = len(windows)
    target = windows[:, POSITION]  # (B,)
    cls, sep = torch.full((B, 1), special.cls), torch.full((B, 1), special.sep)
    masked = windows.clone()
    masked[:, POSITION] = special.mask
    both = torch.cat([cls, masked, sep], 1)  # [CLS] left [MASK] right [SEP]
    left = torch.cat([cls, masked[:, :POSITION + 1], sep], 1)  # [CLS] left [MASK] [SEP]

    def bert_guess(ids: torch.Tensor) -> torch.Tensor:
        logits = bert.mlm_logits(bert(ids))[:, POSITION + 1, :special.text_vocab]  # text chars only
        return logits.argmax(-1)

    gpt_guess = gpt(windows[:, :POSITION])[:, -1, :special.text_vocab].argmax(-1)
    most_common = torch.bincount(windows.flatten()).argmax()
    return {"bert_both_sides": (bert_guess(both) == target).float().mean().item(),
            "bert_left_only": (bert_guess(left) == target).float().mean().item(),
            "gpt_left_only": (gpt_guess == target).float().mean().item(),
            "most_common_char": (target == most_common).float().mean().item()}


@lab(id="pretrained-bert-vs-gpt", phase="pretrained", title="BERT (masked LM) vs GPT (causal LM) on the same text",
     teaches=("lmforge.recipes.pretrain", "lmforge.objectives.mlm", "lmforge.objectives.clm",
              "lmforge.models.bert", "lmforge.models.gpt", "lmforge.infer.engine"),
     docs="docs/labs.md#pretrained-bert-vs-gpt", minutes=6)
def bert_vs_gpt_lab(ctx: LabContext) -> LabResult:
    """Pretrain a 2-layer BERT with `lmforge pretrain --objective mlm` and a 2-layer GPT with `--objective clm`
    on char-level tinyshakespeare for the same time, then hide one char of held-out windows: fill-mask
    accuracy with both sides (what BERT is for), with the left side only (what generation needs), and
    a GPT sample (BERT has no left-to-right generation)."""
    data_dir = bundled_data(ctx.out_dir)
    minutes = ctx.budget_minutes * 0.45
    # no max_steps outside smoke mode: a time budget alone makes the LR schedule follow the clock to its end
    overrides = {"max_minutes": minutes, **({"max_steps": 3} if ctx.smoke else {}), "seed": ctx.seed,
                 "eval_interval": 1_000_000, "checkpoint_interval": 1_000_000, "precision": "fp32"}
    for objective in ("mlm", "clm"):
        ctx.console.rule(objective)
        pretrain(objective, ctx.out_dir / objective, data_dir, overrides, console=ctx.console)
    bert, gpt = load_model(ctx.out_dir / "mlm").eval(), load_model(ctx.out_dir / "clm").eval()
    special = SpecialIds(load_meta(data_dir).vocab_size)
    sampler = RandomWindowSampler(open_shards(data_dir, "val"), WINDOW, 64 if ctx.smoke else 2_000, seed=ctx.seed)
    acc = _accuracies(bert, gpt, sampler.next_batch()[0], special)
    tokenizer = load_tokenizer(ctx.out_dir / "clm")
    prompt = tokenizer.encode("ROMEO:\n")
    sample = tokenizer.decode(GenerationEngine(gpt).generate(
        prompt, SamplingConfig(max_new_tokens=60, temperature=0.8, seed=ctx.seed,  # the objectives' specials end it
                               stop_tokens=frozenset(range(special.text_vocab, gpt.config.vocab_size)))))
    write_text(ctx.out_dir / "gpt_sample.txt", "ROMEO:\n" + sample + "\n")
    plot = bar_chart(ctx.out_dir / "fill_mask_accuracy.png", ["BERT both sides", "BERT left only", "GPT left only",
                                                              "most common char"],
                     [acc["bert_both_sides"], acc["bert_left_only"], acc["gpt_left_only"], acc["most_common_char"]],
                     "accuracy on the hidden char", f"held-out tinyshakespeare, {minutes:.2g} min of training each")
    return LabResult(
        headline=f"hidden-char accuracy: BERT with both sides {100 * acc['bert_both_sides']:.1f} %, BERT left only "
                 f"{100 * acc['bert_left_only']:.1f} %, GPT left only {100 * acc['gpt_left_only']:.1f} % "
                 f"(most common char {100 * acc['most_common_char']:.1f} %)",
        metrics={**acc, "minutes_each": minutes},
        reference=Reference("bidirectional (masked LM) pretraining 88.5 SQuAD v1.1 dev F1 vs 77.8 for the same "
                            "BERT-base trained left-to-right",
                            "Devlin et al. 2019, BERT, Table 5 (ablation of pretraining tasks)"),
        artifacts=[plot, ctx.out_dir / "gpt_sample.txt", ctx.out_dir / "mlm" / "loss.png"],
        notes=f"GPT sample after 'ROMEO:': {sample[:60]!r}. Tiny models (2 layers, 64 wide) and minutes of CPU: "
              "the gap, not the absolute accuracy, is the lesson.",
    )
