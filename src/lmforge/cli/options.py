"""Help texts and options that several commands share, so each option means the same everywhere.

Plain strings and typer options: importing this must not import torch (``--help`` stays instant).
"""

import json
from enum import StrEnum
from typing import Annotated

import typer

PRECISION_HELP = ("auto | fp32 | bf16 | fp16 (CUDA only, with a loss scaler). auto: bf16 on a CUDA GPU that has it "
                  "(else fp16); on CPU fp32 on CPUs without native bf16 (AVX-512-BF16/AMX); elsewhere a few "
                  "training steps of this model are timed in both (once per CPU and shape, cached) and bf16 is "
                  "kept only if at least 5% faster. LMFORGE_AUTO_PRECISION=fp32|bf16 forces what auto picks.")
INFER_PRECISION_HELP = ("fp32 | bf16 | auto | fp16 (CUDA only): the weights' precision while decoding. bf16 halves "
                        "the memory each step reads (on a CPU with AVX-512-BF16/AMX ~1.6x faster decoding), but "
                        "its logits differ slightly, so a greedy reply may differ from fp32's; auto times this "
                        "model's decoding step both ways (once per CPU and shape, cached) and keeps bf16 only if "
                        "at least 5% faster (fp32 on CPUs without native bf16).")
INFER_PRECISION = Annotated[str, typer.Option(help=INFER_PRECISION_HELP)]
PACK = Annotated[bool, typer.Option(
    "--pack/--no-pack", help="On a CPU, lay a Transformer's weight matrices (those of 100k+ weights) out once for "
                             "oneDNN's kernels: SmolLM2's decoding steps ~1.4x faster, a pass over several tokens "
                             "(speculative checks) as fast as over one; logits equal the unpacked model's to fp32 "
                             "rounding (docs/serving.md). A head tied to the embedding gets its own copy.")]
MAX_MINUTES_HELP = ("Time budget in minutes: training stops when it is spent. Without --{steps} the LR schedule "
                    "follows the clock and ends with the budget, so such runs cannot repeat exactly; with "
                    "--{steps} it follows steps.")


def max_minutes_help(steps_option: str = "max-steps", default: str = "") -> str:
    """:data:`MAX_MINUTES_HELP` for a command whose step-count option is ``--steps_option``."""
    text = MAX_MINUTES_HELP.format(steps=steps_option)
    return f"{text} {default}".rstrip()


DEVICE_HELP = ("auto | cpu | cuda | mps (or cuda:N). auto: CUDA if present, else Apple MPS, else CPU. A device this "
               "machine lacks is refused in one line before anything runs or is written.")
DEVICE = Annotated[str, typer.Option(help=DEVICE_HELP)]
GRAD_CHECKPOINT = Annotated[bool | None, typer.Option(
    help="Activation checkpointing per Transformer block (GPT, Llama): keep only each block's input and recompute "
         "the rest in backward; less activation memory for ~1/3 more compute (benchmarks/README.md).")]
class OptimizerName(StrEnum):
    """train.schedule.OPTIMIZERS (a test keeps them equal), checked while parsing."""

    adamw = "adamw"
    lamb = "lamb"
    lion = "lion"
    adafactor = "adafactor"
    muon = "muon"


class LrScheduleName(StrEnum):
    """train.schedule.LR_SCHEDULES (a test keeps them equal)."""

    cosine = "cosine"
    linear = "linear"
    wsd = "wsd"


OPTIMIZER = Annotated[OptimizerName | None, typer.Option(
    help="adamw | lamb (per-tensor trust ratio, for large batches) | lion (sign of momentum: lr ~3-10x smaller "
         "than AdamW's) | adafactor (factored second moments, little optimizer memory) | muon (orthogonalized momentum "
         "for the blocks' matrices at muon_lr, AdamW for embeddings, head, norms and biases).")]
LR_SCHEDULE = Annotated[LrScheduleName | None, typer.Option(
    help="cosine | linear | wsd (warm-up, stable, then linear decay over the last --decay-fraction of training).")]
DECAY_FRACTION = Annotated[float | None, typer.Option(help="wsd: the fraction of training spent decaying (0.2).")]
TENSORBOARD = Annotated[bool, typer.Option(
    help="Also log the metrics as TensorBoard scalars in OUT/tensorboard (`tensorboard --logdir OUT`); "
         "needs pip install 'lmforge[scale]'. metrics.jsonl is always written.")]
SET = Annotated[list[str] | None, typer.Option(
    "--set", metavar="KEY=VALUE",
    help="Override any field of the preset (repeatable): a model field (qk_norm=true, position=rope, "
         "activation=relu2, d_model=192), a training field (lr=2e-3, warmup_steps=50, min_lr=0, optimizer=muon, "
         "muon_lr=0.02, lr_schedule=wsd, weight_decay=0), batch_size / eval_batches, or data_order=epochs (every "
         "window once per pass, shuffled, instead of random windows). VALUE is read as JSON "
         "(numbers, true/false), else as text. The named options above win over --set.")]


def parse_settings(items: list[str] | None) -> dict[str, object]:
    """``["lr=2e-3", "qk_norm=true", "position=rope"]`` -> ``{"lr": 0.002, "qk_norm": True, "position": "rope"}``."""
    settings: dict[str, object] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE, e.g. qk_norm=true", param_hint="--set")
        try:
            settings[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            settings[key.strip()] = text
    return settings
