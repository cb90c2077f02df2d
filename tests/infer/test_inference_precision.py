"""Decoding in bf16 (``--precision`` of sample, chat and serve) and the batch's slot packing.

bf16 weights must give the fp32 model's distribution up to bf16's rounding, keep RoPE's frequencies in fp32,
and decode through both engines; ``auto`` must time the model's own decoding step and answer fp32 without
timing on a CPU that emulates bf16. The batch engine must keep its active rows in the lowest slots, read in
slot order, so that a full batch's cache is one view.
"""

import pytest
import torch

from lmforge import precision
from lmforge.cli.main import run
from lmforge.errors import ConfigError
from lmforge.infer.batch import BatchEngine
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.loading import cast_weights, decode_timer, inference_precision, load_model_dir
from lmforge.infer.sampling import SamplingConfig
from lmforge.models.blocks.positions import RotaryEmbedding
from lmforge.models.blocks.quantized import quantize_modules
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.serve.backend import ModelBackend

FAMILIES = {
    "gpt": lambda: GPT(GPTConfig(vocab_size=60, context_length=64, d_model=32, n_layers=2, n_heads=4)),
    "gpt-alibi": lambda: GPT(GPTConfig(vocab_size=60, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                       position="alibi")),
    "gpt-rope": lambda: GPT(GPTConfig(vocab_size=60, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                      position="rope")),
    "gqa-llama": lambda: Llama(LlamaConfig(vocab_size=60, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                           n_kv_heads=2, d_mlp=64)),
}
IDS = torch.randint(0, 60, (2, 40), generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bf16_weights_give_the_fp32_distribution_up_to_rounding(family):
    torch.manual_seed(0)
    fp32 = FAMILIES[family]().eval()
    bf16 = cast_weights(FAMILIES[family]().eval(), torch.bfloat16)
    bf16.load_state_dict({k: v.to(torch.bfloat16) for k, v in fp32.state_dict().items()})
    assert all(p.dtype == torch.bfloat16 for p in bf16.parameters())
    with torch.no_grad():
        p32 = torch.softmax(fp32(IDS), -1)
        p16 = torch.softmax(bf16(IDS).float(), -1)
    assert (p32 - p16).abs().sum(-1).max() < 0.05  # total variation x 2, over every position
    assert (p32.argmax(-1) == p16.argmax(-1)).float().mean() > 0.9


def test_rope_frequencies_stay_fp32_so_late_positions_keep_their_angles():
    model = cast_weights(FAMILIES["gqa-llama"]().eval(), torch.bfloat16)
    rotary = [m for m in model.modules() if isinstance(m, RotaryEmbedding)]
    assert rotary and all(m.inv_freq.dtype == torch.float32 for m in rotary)


def test_both_engines_decode_in_bf16_with_a_bf16_cache():
    model = cast_weights(FAMILIES["gqa-llama"]().eval(), torch.bfloat16)
    greedy = SamplingConfig(max_new_tokens=8, temperature=0, top_logprobs=2)
    alone = list(GenerationEngine(model).stream([1, 2, 3], greedy))
    engine = BatchEngine(model, max_batch=2)
    assert engine.cache.cache.keys[0].dtype == torch.bfloat16
    batched = engine.generate_many([[1, 2, 3], [4, 5]], greedy)
    assert len(alone) == 8 and len(batched[0]) == 8
    assert all(isinstance(t.logprob, float) and t.logprob <= 0 for t in alone)


def test_load_model_dir_casts_and_a_quantized_model_refuses_bf16(tiny_model_dir):
    model, _ = load_model_dir(tiny_model_dir, precision="bf16")
    assert next(model.parameters()).dtype == torch.bfloat16
    quantized = FAMILIES["gpt"]().eval()
    quantize_modules(quantized, {"method": "int8"})
    with pytest.raises(ConfigError, match="quantized .* use --precision fp32 or auto"):
        inference_precision(quantized, "bf16")
    assert inference_precision(quantized, "auto").precision == "fp32"  # no timing: its kernels are its own


def test_sample_and_serve_take_the_precision(tiny_model_dir, capsys):
    model_dir = tiny_model_dir
    assert run(["sample", str(model_dir), "--prompt", "ab", "--max-tokens", "3", "--precision", "bf16"]) == 0
    backend = ModelBackend(model_dir, precision="bf16", batch=4)
    assert next(backend.model.parameters()).dtype == torch.bfloat16
    capsys.readouterr()
    assert run(["sample", str(model_dir), "--prompt", "ab", "--precision", "fp8"]) == 2
    assert "precision must be one of" in capsys.readouterr().err


@pytest.mark.auto_precision
def test_auto_times_the_decoding_step_where_bf16_is_native(monkeypatch):
    model = FAMILIES["gqa-llama"]().eval()
    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("Test CPU", {"avx512_bf16"}))
    timed = []
    real = decode_timer

    def spy(net, batch, pack=False):
        timer = real(net, batch, pack)
        return precision.StepTimer(timer.signature, lambda p: timed.append(p) or timer.time_step(p))

    monkeypatch.setattr("lmforge.infer.loading.decode_timer", spy)
    choice = inference_precision(model, "auto", batch=4)
    assert {"fp32", "bf16"} <= set(timed) and "this model's step (measured)" in choice.reason
    assert next(model.parameters()).dtype == torch.float32  # timing used a copy
    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("Test CPU", {"avx2"}))
    assert inference_precision(model, "auto").precision == "fp32"  # emulated bf16: no timing at all


def test_rows_take_the_lowest_free_slots_and_a_step_reads_them_in_slot_order(monkeypatch):
    torch.manual_seed(0)
    engine = BatchEngine(FAMILIES["gpt"]().eval(), max_batch=4)
    config = SamplingConfig(max_new_tokens=6, temperature=0)
    rows = [engine.add([1, 2, 3], config) for _ in range(3)]
    assert [r.slot for r in rows] == [0, 1, 2]
    engine.step()
    engine.cancel(rows[0])  # slot 0 frees while slots 1 and 2 go on
    late = engine.add([4, 5], config)
    assert late.slot == 0  # the lowest free slot, not the last freed or the highest
    seen = []
    real = engine.cache.rows
    monkeypatch.setattr(engine.cache, "rows", lambda slots, real_=None: seen.append(list(slots)) or real(slots, real_))
    engine.step()  # the new prompt's prefill, then the decoding rows
    engine.step()  # all three decode together
    assert seen[-1] == [0, 1, 2]  # joined as 1, 2, 0: read in slot order, one contiguous view
