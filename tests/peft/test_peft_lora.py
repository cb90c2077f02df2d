"""LoRA: equal to ``peft`` on the Hugging Face twin, merge/unmerge, peft-format files both ways."""

from __future__ import annotations

import copy

import pytest
import torch

from lmforge.errors import ConfigError
from lmforge.interop.hf_gpt2 import export_hf_gpt2
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.peft import (
    LoraConfig,
    apply_lora,
    count_parameters,
    lora_layers,
    merge_and_unload,
    merge_lora,
    unmerge_lora,
)
from lmforge.peft.hf_format import load_peft_adapter, save_peft_adapter

peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

TARGETS = ["qkv", "proj", "up", "down"]


def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=97, context_length=32, d_model=32, n_layers=2, n_heads=4)).eval()


def randomize_lora(model) -> None:
    """B starts at 0 (update = 0); give it random values so the parity tests compare a real update."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in lora_layers(model).values():
            layer.lora_A.weight.copy_(torch.randn(layer.lora_A.weight.shape, generator=g) * 0.2)
            layer.lora_B.weight.copy_(torch.randn(layer.lora_B.weight.shape, generator=g) * 0.2)


@pytest.fixture
def ids() -> torch.Tensor:
    return torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(2))


def test_new_adapter_leaves_the_model_unchanged_and_only_lora_trains(ids):
    base = tiny_gpt()
    model = copy.deepcopy(base)
    names = apply_lora(model, LoraConfig(r=4, alpha=8, target_modules=TARGETS))
    assert len(names) == 8
    assert torch.equal(model(ids), base(ids))
    trainable, total = count_parameters(model)
    assert trainable == 2 * 4 * (32 + 96) + 2 * 4 * (32 + 32) + 2 * 4 * (32 + 128) + 2 * 4 * (128 + 32)
    assert {n.rsplit(".", 2)[-2] for n, p in model.named_parameters() if p.requires_grad} == {"lora_A", "lora_B"}
    assert total == count_parameters(base)[1] + trainable


def test_equal_to_peft_on_hf_gpt2_and_loadable_by_peft(tmp_path, ids):
    model = tiny_gpt()
    export_hf_gpt2(model, tmp_path / "hf")
    config = LoraConfig(r=4, alpha=16, target_modules=TARGETS)
    apply_lora(model, config)
    randomize_lora(model)
    save_peft_adapter(model, config, tmp_path / "adapter", base_model_name_or_path=str(tmp_path / "hf"))

    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    with torch.no_grad():
        base_logits = hf(ids).logits
    peft_model = peft.PeftModel.from_pretrained(hf, tmp_path / "adapter").eval()
    with torch.no_grad():
        ours, theirs = model(ids), peft_model(ids).logits
    assert (ours - theirs).abs().max() < 1e-5
    assert (ours - base_logits).abs().max() > 1e-2  # the adapter really changes the output

    with torch.no_grad():  # merged forms agree too
        merge_lora(model)
        merged_theirs = peft_model.merge_and_unload()(ids).logits
        assert (model(ids) - merged_theirs).abs().max() < 1e-5


def test_merge_unmerge_and_merge_and_unload(ids):
    model = tiny_gpt()
    apply_lora(model, LoraConfig(r=2, alpha=4, target_modules=["qkv", "down"]))
    randomize_lora(model)
    base_weight = lora_layers(model)["blocks.0.attn.qkv"].base_layer.weight.clone()
    with torch.no_grad():
        before = model(ids)
        merge_lora(model)
        assert (model(ids) - before).abs().max() < 1e-5
        unmerge_lora(model)
        assert (lora_layers(model)["blocks.0.attn.qkv"].base_layer.weight - base_weight).abs().max() < 1e-6
        assert (model(ids) - before).abs().max() < 1e-5
        plain = merge_and_unload(model)
        assert not lora_layers(plain)
        assert set(plain.state_dict()) == set(tiny_gpt().state_dict())
        assert (plain(ids) - before).abs().max() < 1e-5


def test_peft_format_round_trip(tmp_path, ids):
    model = tiny_gpt()
    config = LoraConfig(r=3, alpha=6, target_modules=[r"blocks\.1\.attn\.qkv", "up"])
    apply_lora(model, config)
    randomize_lora(model)
    save_peft_adapter(model, config, tmp_path)
    restored = tiny_gpt()
    loaded = load_peft_adapter(restored, tmp_path)
    assert loaded.r == 3 and loaded.alpha == 6
    assert sorted(lora_layers(restored)) == sorted(lora_layers(model))
    with torch.no_grad():
        assert torch.equal(restored(ids), model(ids))


def test_dropout_only_in_training(ids):
    model = tiny_gpt()
    apply_lora(model, LoraConfig(r=4, alpha=8, dropout=0.5, target_modules=["qkv"]))
    randomize_lora(model)
    with torch.no_grad():
        model.eval()
        assert torch.equal(model(ids), model(ids))
        model.train()
        assert not torch.equal(model(ids), model(ids))


def test_a_pattern_that_matches_nothing_is_an_error():
    with pytest.raises(ConfigError, match="match no linear layer.*qkv"):
        apply_lora(tiny_gpt(), LoraConfig(target_modules=["q_proj"]))


def test_llama_adapter_on_unfused_layers_loads_in_peft(tmp_path):
    from lmforge.interop.hf_llama import export_hf_llama
    from lmforge.models.llama import Llama, LlamaConfig

    torch.manual_seed(0)
    model = Llama(LlamaConfig(vocab_size=97, context_length=32, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                              d_mlp=64)).eval()
    export_hf_llama(model, tmp_path / "hf")
    config = LoraConfig(r=4, alpha=8, target_modules=["proj", "down"])
    apply_lora(model, config)
    randomize_lora(model)
    save_peft_adapter(model, config, tmp_path / "adapter")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    peft_model = peft.PeftModel.from_pretrained(hf, tmp_path / "adapter").eval()
    ids = torch.randint(0, 97, (2, 10), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert (model(ids) - peft_model(ids).logits).abs().max() < 1e-4


def test_fused_llama_layers_cannot_be_exported(tmp_path):
    from lmforge.models.llama import Llama, LlamaConfig

    model = Llama(LlamaConfig(vocab_size=97, context_length=32, d_model=32, n_layers=1, n_heads=4, n_kv_heads=4,
                              d_mlp=64))
    config = LoraConfig(r=2, target_modules=["qkv"])
    apply_lora(model, config)
    with pytest.raises(ConfigError, match="no single Hugging Face counterpart"):
        save_peft_adapter(model, config, tmp_path)
