"""Phase 11, deployment: one request at a time vs continuous batching, same model, same prompts."""

from __future__ import annotations

import time

from lmforge.assets import tinyshakespeare_path
from lmforge.infer.batch import BatchEngine
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.loading import load_model_dir
from lmforge.infer.sampling import SamplingConfig
from lmforge.interop.convert import smollm2_dir
from lmforge.io import read_text
from lmforge.labs._common import bar_chart, tiny_gpt_dir
from lmforge.labs.registry import LabContext, LabResult, Reference, lab

BATCH = 8
PROMPTS = ("The capital of France is", "Once upon a time", "To make a cup of tea,", "The weather today",
           "My favourite book is", "In the year 2050,", "The best way to learn is", "A good friend")


@lab(id="deployment-batching", phase="deployment", title="Batched decoding: tokens/s at 1 vs 8 concurrent requests",
     teaches=("lmforge.infer.engine", "lmforge.infer.batch", "lmforge.models.blocks.kv_cache"),
     docs="docs/labs.md#deployment-batching", minutes=4)
def batching_lab(ctx: LabContext) -> LabResult:
    """Greedy-decode the same 8 prompts with SmolLM2-135M-Instruct one after the other (KV cache, batch 1) and
    together in the continuous-batching engine the server uses; aggregate tokens/s and whether the two
    produce the same tokens."""
    text = read_text(tinyshakespeare_path()) + "".join(PROMPTS)  # smoke: a char model that can read the prompts
    source = tiny_gpt_dir(ctx.out_dir / "tiny", text) if ctx.smoke else smollm2_dir()
    model, tokenizer = load_model_dir(source)
    prompts = [tokenizer.encode(p) for p in PROMPTS]
    config = SamplingConfig(max_new_tokens=8 if ctx.smoke else 48, temperature=0)
    engine = GenerationEngine(model)
    start = time.perf_counter()
    one_by_one = [engine.generate(p, config) for p in prompts]
    sequential_s = time.perf_counter() - start
    start = time.perf_counter()
    batched = BatchEngine(model, max_batch=BATCH).generate_many(prompts, config)
    batched_s = time.perf_counter() - start
    n_tokens = sum(map(len, batched))
    same = sum(a == b for a, b in zip(one_by_one, batched, strict=True))
    sequential_tps, batched_tps = sum(map(len, one_by_one)) / sequential_s, n_tokens / batched_s
    plot = bar_chart(ctx.out_dir / "tokens_per_s.png", ["1 at a time", f"{BATCH} batched"],
                     [sequential_tps, batched_tps], "generated tokens / s", "greedy decoding, same 8 prompts")
    return LabResult(
        headline=f"{BATCH} requests batched: {batched_tps:.1f} tok/s = {batched_tps / sequential_tps:.2f}x one at a "
                 f"time ({sequential_tps:.1f} tok/s); {same}/{len(prompts)} outputs token-identical",
        metrics={"sequential_tokens_per_s": sequential_tps, "batched_tokens_per_s": batched_tps,
                 "speedup": batched_tps / sequential_tps, "identical_outputs": same},
        reference=Reference(f"one request at a time with a KV cache (GenerationEngine): {sequential_tps:.1f} tok/s",
                            "the same model and prompts, measured in this run"),
        artifacts=[plot],
        notes="Decoding a small model on a CPU is memory-bound, so a batch reads the weights once for 8 rows; on "
              "a loaded machine the ratio is noisy. Greedy outputs can differ in a token where two logits tie "
              "within float rounding.",
    )
