"""Help texts that several commands share, so each option means the same everywhere.

Plain strings: importing this must not import torch (``--help`` stays instant).
"""

PRECISION_HELP = ("auto | fp32 | bf16. auto: fp32 on CPUs without native bf16 (AVX-512-BF16/AMX); elsewhere a few "
                  "training steps of this model are timed in both (once per CPU and shape, cached) and bf16 is "
                  "kept only if at least 5% faster. LMFORGE_AUTO_PRECISION=fp32|bf16 forces what auto picks.")
MAX_MINUTES_HELP = ("Time budget in minutes: training stops when it is spent. Without --{steps} the LR schedule "
                    "follows the clock and ends with the budget, so such runs cannot repeat exactly; with "
                    "--{steps} it follows steps.")


def max_minutes_help(steps_option: str = "max-steps", default: str = "") -> str:
    """:data:`MAX_MINUTES_HELP` for a command whose step-count option is ``--steps_option``."""
    text = MAX_MINUTES_HELP.format(steps=steps_option)
    return f"{text} {default}".rstrip()
