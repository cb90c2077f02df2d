"""Phase 9, PEFT: LoRA adapters vs full fine-tuning of the same classifier."""

from __future__ import annotations

from lmforge.labs._common import bar_chart, encoder_dir, sms_split
from lmforge.labs.finetuning import finetune_config
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.peft import LoraConfig, apply_lora, count_parameters
from lmforge.tasks.backbone import load_backbone
from lmforge.tasks.classify import finetune_classifier

METHODS = {"full": 5e-5, "lora": 1e-3}  # method -> peak learning rate (LoRA's adapters start at zero)


@lab(id="peft-lora-vs-full", phase="peft", title="LoRA vs full fine-tuning: accuracy, trainable parameters, time",
     teaches=("lmforge.peft.lora", "lmforge.tasks.classify"), docs="docs/labs.md#peft-lora-vs-full", minutes=9)
def lora_vs_full_lab(ctx: LabContext) -> LabResult:
    """Fine-tune all-MiniLM-L6-v2 as an SMS spam classifier twice on the same data and budget: every weight,
    then rank-8 LoRA adapters on the attention and MLP projections (frozen backbone, trained head)."""
    train, test = sms_split(ctx.smoke, ctx.seed)
    source = encoder_dir(ctx.smoke, ctx.out_dir / "tiny-encoder")
    metrics: dict[str, float] = {}
    for method, lr in METHODS.items():
        backbone, tokenizer = load_backbone(source)
        if method == "lora":
            apply_lora(backbone, LoraConfig(r=8, alpha=16.0, target_modules=["qkv", "proj", "up", "down"]))
        trainable, total = count_parameters(backbone)
        ctx.console.rule(f"{method}: {trainable:,} of {total:,} backbone parameters trained")
        result = finetune_classifier(backbone, tokenizer, train, test, ctx.out_dir / method,
                                     finetune_config(ctx, lr=lr, share=0.3), max_len=64, console=ctx.console)
        metrics |= {f"{method}_accuracy": result.report.accuracy, f"{method}_trainable_params": trainable,
                    f"{method}_train_seconds": result.train_seconds, f"{method}_steps": result.steps}
    plot = bar_chart(ctx.out_dir / "accuracy.png", list(METHODS), [metrics[f"{m}_accuracy"] for m in METHODS],
                     "test accuracy", "SMS spam: full fine-tuning vs LoRA r=8")
    share = metrics["lora_trainable_params"] / metrics["full_trainable_params"]
    return LabResult(
        headline=f"full fine-tune {100 * metrics['full_accuracy']:.2f} % ({metrics['full_trainable_params']:,.0f} "
                 f"params, {metrics['full_train_seconds']:.0f} s) vs LoRA {100 * metrics['lora_accuracy']:.2f} % "
                 f"({metrics['lora_trainable_params']:,.0f} params = {100 * share:.2f} %, "
                 f"{metrics['lora_train_seconds']:.0f} s)",
        metrics=metrics,
        reference=Reference("RoBERTa-base on GLUE: full fine-tuning (125M trained) 86.4 average vs LoRA (0.3M "
                            "trained) 87.2", "Hu et al. 2021, LoRA, Table 2"),
        artifacts=[plot],
        notes="Both runs get the same time budget; the head (and, in LoRA, only the adapters) is trained.",
    )
