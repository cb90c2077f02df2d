"""PaLM-style options on the Llama family: each does what it says (parallel block, multi-query attention,
SwiGLU, no biases, shared embeddings), the combination generates with a cache like without, refuses HF
export, and a tiny run from the ``palm-char`` preset lowers the validation loss. GPT has the parallel
block too (GPT-J's), checked the same way."""

import json

import pytest
import torch
import torch.nn.functional as F

from lmforge.errors import ConfigError
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.sampling import SamplingConfig
from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.interop.hf_llama import export_hf_llama
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import load_model, save_model
from lmforge.presets import load_preset
from lmforge.recipes.pretrain import bundled_data
from lmforge.recipes.train_lm import run_from_preset, train_lm

PALM = dict(vocab_size=61, context_length=32, d_model=32, n_layers=2, n_heads=4, n_kv_heads=1, d_mlp=48,
            tie_embeddings=True, parallel_block=True)


def _model(**overrides):
    torch.manual_seed(0)
    return _scaled(Llama(LlamaConfig(**{**PALM, **overrides})))


def _gpt_j():
    """A GPT with GPT-J's parallel block."""
    torch.manual_seed(0)
    return _scaled(GPT(GPTConfig(vocab_size=61, context_length=32, d_model=32, n_layers=2, n_heads=4,
                                 parallel_block=True)))


def _scaled(model):
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.2)
    return model


@pytest.mark.parametrize("make", [_model, _gpt_j], ids=["llama", "gpt"])
def test_parallel_block_adds_attention_and_mlp_of_the_same_input(make):
    """block(x) - x == (attention's part) + (MLP's part), each measured with the other branch's output
    matrix zeroed: the MLP never sees attention's output (in a sequential block it reads x + attn)."""
    block = make().blocks[0]
    x = torch.randn(2, 7, 32, generator=torch.Generator().manual_seed(0))

    def delta(zero: str | None) -> torch.Tensor:
        saved = {n: p.clone() for n, p in block.named_parameters()}
        with torch.no_grad():
            for n, p in block.named_parameters():
                if zero is not None and n.startswith(zero):  # the branch's output matrix (and bias, in GPT)
                    p.zero_()
            out = block(x) - x
            for n, p in block.named_parameters():
                p.copy_(saved[n])
        return out

    assert block.norm2 is None and block.parallel
    attention, mlp = delta("mlp.down."), delta("attn.proj.")
    torch.testing.assert_close(delta(None), attention + mlp, atol=1e-5, rtol=0)
    h = block.norm1(x)
    torch.testing.assert_close(mlp, block.mlp(h), atol=1e-6, rtol=0)  # the MLP reads norm(x), not x + attn


def test_multi_query_attention_is_one_key_value_head_shared_by_every_query_head():
    mqa, mha = _model(), Llama(LlamaConfig(**{**PALM, "n_kv_heads": 4})).eval()
    D = 32 // 4
    state = mqa.state_dict()
    for i in range(2):  # MHA with the single k/v head copied to all four heads computes the same function
        q, k, v = state[f"blocks.{i}.attn.qkv.weight"].split([32, D, D])
        state[f"blocks.{i}.attn.qkv.weight"] = torch.cat([q, k.repeat(4, 1), v.repeat(4, 1)])
    mha.load_state_dict(state)
    ids = torch.randint(0, 61, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(mqa(ids), mha(ids), atol=1e-5, rtol=0)
    assert mqa.blocks[0].attn.qkv.weight.shape == (32 + 2 * D, 32)
    assert mqa.new_cache(1).keys[0].shape == (1, 1, 32, D)  # the cache holds one head: 4x smaller


def test_swiglu_no_biases_shared_embeddings():
    model = _model()
    mlp = model.blocks[0].mlp
    x = torch.randn(3, 32)
    gate, up = mlp.gate_up.weight.split(48)
    with torch.no_grad():
        torch.testing.assert_close(mlp(x), F.linear(F.silu(x @ gate.T) * (x @ up.T), mlp.down.weight))
    assert not [n for n, _ in model.named_parameters() if n.endswith("bias")]
    assert model.lm_head.weight is model.tok_emb.weight
    untied = _model(tie_embeddings=False)
    assert untied.num_parameters() - model.num_parameters() == 61 * 32


@pytest.mark.parametrize("make", [_model, _gpt_j], ids=["llama", "gpt"])
def test_palm_block_generates_with_cache_as_without_and_saves(tmp_path, make):
    model = make()
    ids = torch.randint(0, 61, (1, 12), generator=torch.Generator().manual_seed(2))
    cache = model.new_cache(1)
    with torch.no_grad():
        stepped = torch.cat([model(ids[:, :5], cache), *(model(ids[:, t:t + 1], cache) for t in range(5, 12))], 1)
        torch.testing.assert_close(stepped, model(ids), atol=1e-5, rtol=0)
    engine = GenerationEngine(model)
    cached = engine.generate([3, 14, 15, 9], SamplingConfig(max_new_tokens=10, temperature=0))
    assert cached == engine.generate([3, 14, 15, 9], SamplingConfig(max_new_tokens=10, temperature=0, use_cache=False))
    save_model(model, tmp_path / "palm")
    assert torch.equal(load_model(tmp_path / "palm")(ids), model(ids))
    with pytest.raises(ConfigError, match="parallel_block"):
        (export_hf_llama if isinstance(model, Llama) else export_hf_gpt2)(model, tmp_path / "hf")
    with pytest.raises(ValueError, match="parallel block"):
        type(model.blocks[0])(model.blocks[0].attn, model.blocks[0].mlp, model.blocks[0].norm1, None)


@pytest.mark.slow  # ~12 s of CPU: the options' own tests above run in the default suite
def test_tiny_palm_run_loss_falls(tmp_path):
    data = bundled_data(tmp_path, "char")
    overrides = {"max_steps": 60, "warmup_steps": 10, "eval_interval": 30, "eval_batches": 4, "batch_size": 8,
                 "context_length": 32, "d_model": 64, "n_layers": 2, "d_mlp": 172, "seed": 3, "precision": "fp32",
                 "max_minutes": None}
    run = run_from_preset(load_preset("palm-char"), data, overrides)
    train_lm(run, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    val = [r["val_loss"] for r in records if "val_loss" in r]
    first = next(r["loss"] for r in records if "loss" in r)
    assert val[-1] < 0.7 * first, (first, val)
    assert load_model(tmp_path / "run").config.parallel_block
