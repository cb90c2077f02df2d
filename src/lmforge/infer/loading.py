"""Open a model directory: the model (``models.registry.load_model``), checked for what the caller
needs, and the ``tokenizer.json`` trained with it. Every command and the server load through here,
so a directory that cannot do what was asked is refused in one line, before anything runs.

Here too the weights get the precision they decode in (``--precision``, :func:`inference_precision`).
Decoding a small model reads every weight once per step, so bf16 weights halve the memory traffic, and a CPU
with native bf16 dot products (AVX-512-BF16, AMX) also multiplies them faster: SmolLM2-135M on a 2-core
AVX-512-BF16 EPYC decodes one sequence in 36 ms per step in bf16 against 59 ms in fp32, eight in 55 against
82 ms. On a CPU that emulates bf16 it is many times slower. ``auto`` therefore answers fp32 there without
measuring and elsewhere times this model's own decoding step both ways (:mod:`lmforge.precision`, cached per
CPU and shape). bf16 logits differ from fp32's in the third significant digit, so a greedy reply can take
another word where two tokens were nearly tied: fp32 stays the default, for replies that repeat exactly.

The decoding entry points (:func:`load_for_generation`, the server) also pack a Transformer decoder's weights
for the CPU's kernels (:mod:`lmforge.infer.packed`: a step ~1.4x faster, logits equal to fp32 rounding);
everything else that opens a model directory (fine-tuning, quantizing, probing) gets it plain.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch

from lmforge.devices import module_device
from lmforge.errors import ConfigError
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.packed import pack_linears
from lmforge.infer.speculative import ModelDraft, SpeculativeEngine, make_draft
from lmforge.models.base import Capability, CausalLM, ModelBase
from lmforge.models.blocks.positions import RotaryEmbedding
from lmforge.models.blocks.quantized import QuantizedEmbedding, QuantizedLinear
from lmforge.models.registry import load_model
from lmforge.precision import PrecisionChoice, StepTimer, resolve_precision
from lmforge.tokenizers import Tokenizer, load_tokenizer
from lmforge.tokenizers.base import TOKENIZER_FILE

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def load_model_dir(model_dir: str | Path, *any_of: Capability, device: torch.device | None = None,
                   precision: str = "fp32", batch: int = 1, pack: bool = False) -> tuple[ModelBase, Tokenizer]:
    """The model (on ``device``; None: CPU, where it loads; its weights in ``precision``, for decoding ``batch``
    rows at a time) and its tokenizer; with ``any_of``, a model that has none of those capabilities is refused.
    ``pack``: a Transformer decoder on the CPU gets packed weights (:mod:`lmforge.infer.packed`) and can then
    only decode."""
    model_dir = Path(model_dir)
    model = load_model(model_dir)
    if any_of:
        model.require(model_dir, *any_of)
    if device is not None:
        model.to(device)  # engines, caches and samplers follow the weights' device
    if not (model_dir / TOKENIZER_FILE).is_file():
        raise ConfigError(f"{model_dir}: no {TOKENIZER_FILE} next to the model; copy the tokenizer it was trained with")
    pack = pack and isinstance(model, CausalLM)
    if (chosen := inference_precision(model, precision, batch, pack).precision) != "fp32":  # fp32: as it loaded
        cast_weights(model, DTYPES[chosen])
    if pack:
        pack_linears(model)
    return model, load_tokenizer(model_dir / TOKENIZER_FILE)


def inference_precision(model: ModelBase, requested: str, batch: int = 1, pack: bool = False) -> PrecisionChoice:
    """fp32, bf16 (fp16: CUDA only) or ``auto`` for decoding ``model`` (see the module docstring; ``auto`` times
    the step with packed weights when ``pack``); quantized weights (int8/int4) keep their own kernels and refuse
    another precision."""
    if any(isinstance(m, (QuantizedLinear, QuantizedEmbedding)) for m in model.modules()):
        if requested not in ("auto", "fp32"):
            raise ConfigError(f"--precision {requested}: this model's weights are quantized (int8/int4) and run "
                              "their own kernels; use --precision fp32 or auto")
        return PrecisionChoice("fp32", "quantized weights keep their own kernels")
    timer = decode_timer(model, batch, pack) if requested == "auto" and isinstance(model, CausalLM) else None
    return resolve_precision(requested, timer, module_device(model).type)


def decode_timer(model: CausalLM, batch: int, pack: bool = False, prompt: int = 32) -> StepTimer:
    """Times one decoding step of ``model``: ``batch`` rows, one new token each after a ``prompt``-token prefix,
    with its weights in fp32 or bf16, packed or not (a copy exists only while ``auto`` decides)."""
    models: dict[str, CausalLM] = {} if pack else {"fp32": model}
    caches = {}
    ids = torch.randint(0, model.config.vocab_size, (batch, prompt + 1), generator=torch.Generator().manual_seed(0))
    ids = ids.to(module_device(model))

    @torch.inference_mode()
    def time_step(precision: str) -> float:
        if precision not in models:
            models[precision] = cast_weights(copy.deepcopy(model), DTYPES[precision]).eval()
            if pack:
                pack_linears(models[precision])
        net = models[precision]
        if precision not in caches:
            caches[precision] = net.new_cache(batch, prompt + 1)
            net(ids[:, :prompt], caches[precision])
        caches[precision].length = prompt  # the same step every time: one token after the prefix
        start = time.perf_counter()
        net(ids[:, prompt:], caches[precision])
        return time.perf_counter() - start

    n_params = sum(p.numel() for p in model.parameters())
    layout = ", packed" if pack else ""
    return StepTimer(f"decode {model.family} {n_params} params x {batch} rows{layout}", time_step)


def cast_weights(model: ModelBase, dtype: torch.dtype) -> ModelBase:
    """``model`` with its floating parameters and buffers in ``dtype`` (in place), except RoPE's frequencies:
    in bf16 they would carry a 0.4 % error into every angle, a whole radian by position 256."""
    if dtype == next(model.parameters()).dtype:
        return model
    rotary = {m: m.inv_freq for m in model.modules() if isinstance(m, RotaryEmbedding)}
    model.to(dtype)
    for module, inv_freq in rotary.items():
        module.inv_freq = inv_freq
    return model


def load_for_generation(model_dir: str | Path, device: torch.device | None = None, draft: str | None = None,
                        draft_k: int = 4, precision: str = "fp32",
                        pack: bool = True) -> tuple[GenerationEngine, Tokenizer]:
    """A decoder-only LM on ``device`` in ``precision``, ready to sample or chat with (an encoder or
    encoder-decoder is refused), its weights packed for the CPU's kernels when ``pack``; with a ``draft`` spec
    (``infer.speculative.make_draft``), a speculative engine checking ``draft_k`` per pass."""
    model, tokenizer = load_model_dir(model_dir, Capability.GENERATE, device=device, precision=precision, pack=pack)
    if draft is None:
        return GenerationEngine(model), tokenizer
    proposer = make_draft(model, draft)
    if pack and isinstance(proposer, ModelDraft):  # a draft from its own directory (layers:N shares packed ones)
        pack_linears(proposer.model)
    return SpeculativeEngine(model, proposer, draft_k), tokenizer
