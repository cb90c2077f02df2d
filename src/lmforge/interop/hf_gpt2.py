"""lmforge GPT <-> Hugging Face GPT-2 (``GPT2LMHeadModel``) checkpoints.

HF stores GPT-2's linear layers as ``Conv1D`` with weights shaped (in, out),
the transpose of ``nn.Linear``'s (out, in); the map below records which
tensors need that transpose. Everything else is a rename.
"""

from __future__ import annotations

from pathlib import Path

import safetensors.torch
import torch

from lmforge.errors import ConfigError
from lmforge.interop.hf_common import ACTIVATIONS, hf_activation, read_hf_weights
from lmforge.io import atomic_write, read_json, write_json
from lmforge.models.gpt import GPT, GPTConfig
from lmforge.models.registry import load_state


def gpt2_name_map(n_layers: int, tied: bool = True) -> list[tuple[str, str, bool]]:
    """(lmforge name, HF name, transpose?) for every tensor of a GPT-2."""
    names = [
        ("tok_emb.weight", "transformer.wte.weight", False),
        ("pos_emb.table.weight", "transformer.wpe.weight", False),
        ("norm.weight", "transformer.ln_f.weight", False),
        ("norm.bias", "transformer.ln_f.bias", False),
    ]
    if not tied:
        names.append(("lm_head.weight", "lm_head.weight", False))
    per_layer = [
        ("norm1.weight", "ln_1.weight", False),
        ("norm1.bias", "ln_1.bias", False),
        ("attn.qkv.weight", "attn.c_attn.weight", True),
        ("attn.qkv.bias", "attn.c_attn.bias", False),
        ("attn.proj.weight", "attn.c_proj.weight", True),
        ("attn.proj.bias", "attn.c_proj.bias", False),
        ("norm2.weight", "ln_2.weight", False),
        ("norm2.bias", "ln_2.bias", False),
        ("mlp.up.weight", "mlp.c_fc.weight", True),
        ("mlp.up.bias", "mlp.c_fc.bias", False),
        ("mlp.down.weight", "mlp.c_proj.weight", True),
        ("mlp.down.bias", "mlp.c_proj.bias", False),
    ]
    for i in range(n_layers):
        names += [(f"blocks.{i}.{ours}", f"transformer.h.{i}.{hf}", t) for ours, hf, t in per_layer]
    return names


def to_hf_config(c: GPTConfig, eos_id: int | None = None) -> dict:
    if not c.bias:
        raise ConfigError("HF GPT-2 always has biases; this model was built with bias=False and cannot be exported")
    if c.position != "learned":
        raise ConfigError(f"HF GPT-2 has learned positions; this model uses {c.position!r} and cannot be exported")
    if c.parallel_block:
        raise ConfigError("parallel_block=true: HF GPT-2 runs attention and MLP in sequence; a GPT-J-style "
                          "parallel block cannot be exported to it")
    if c.qk_norm or c.activation not in ACTIVATIONS:
        raise ConfigError(f"HF GPT-2 has no q/k norms and its MLP knows {', '.join(ACTIVATIONS)}; this model has "
                          f"qk_norm={c.qk_norm}, activation={c.activation!r} and cannot be exported")
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": c.vocab_size,
        "n_positions": c.context_length,
        "n_embd": c.d_model,
        "n_layer": c.n_layers,
        "n_head": c.n_heads,
        "n_inner": c.mlp_width,
        "activation_function": hf_activation(c.activation, "activation_function"),
        "layer_norm_epsilon": c.layer_norm_eps,
        "resid_pdrop": c.dropout,
        "embd_pdrop": c.dropout,
        "attn_pdrop": c.dropout,
        "tie_word_embeddings": c.tie_embeddings,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def from_hf_config(hf: dict, source: str = "config.json") -> GPTConfig:
    if hf.get("model_type") != "gpt2":
        raise ConfigError(f"{source}: model_type is {hf.get('model_type')!r}, expected 'gpt2'")
    activation = {v: k for k, v in ACTIVATIONS.items()}.get(hf.get("activation_function", "gelu_new"))
    if activation is None:
        raise ConfigError(f"{source}: unsupported activation_function {hf.get('activation_function')!r}")
    d_model = hf["n_embd"]
    return GPTConfig(
        vocab_size=hf["vocab_size"],
        context_length=hf["n_positions"],
        d_model=d_model,
        n_layers=hf["n_layer"],
        n_heads=hf["n_head"],
        d_mlp=hf.get("n_inner") or 4 * d_model,
        layer_norm_eps=hf.get("layer_norm_epsilon", 1e-5),
        activation=activation,
        tie_embeddings=hf.get("tie_word_embeddings", True),
        bias=True,
    )


def export_hf_gpt2(model: GPT, out_dir: str | Path, eos_id: int | None = None) -> None:
    """Write ``config.json`` + ``model.safetensors`` that ``GPT2LMHeadModel.from_pretrained`` loads."""
    out_dir = Path(out_dir)
    c = model.config
    hf_config = to_hf_config(c, eos_id)  # validates first: nothing is written for a model HF cannot hold
    state = model.state_dict()
    tensors = {hf: (state[ours].t() if transpose else state[ours]).contiguous()
               for ours, hf, transpose in gpt2_name_map(c.n_layers, c.tie_embeddings)}
    write_json(out_dir / "config.json", hf_config)
    with atomic_write(out_dir / "model.safetensors", "wb") as f:
        f.write(safetensors.torch.save(tensors, metadata={"format": "pt"}))


def import_hf_gpt2(hf_dir: str | Path) -> GPT:
    """Load an HF GPT-2 directory (``config.json`` + ``model.safetensors``) as an lmforge GPT."""
    hf_dir = Path(hf_dir)
    config = from_hf_config(read_json(hf_dir / "config.json", "HF config"), str(hf_dir / "config.json"))
    hf_state = read_hf_weights(hf_dir)
    if not any(k.startswith("transformer.") for k in hf_state):  # original OpenAI checkpoints omit the prefix
        hf_state = {f"transformer.{k}": v for k, v in hf_state.items()}
    model = GPT(config)
    state: dict[str, torch.Tensor] = {}
    for ours, hf, transpose in gpt2_name_map(config.n_layers, config.tie_embeddings):
        if hf not in hf_state:
            raise ConfigError(f"{hf_dir}: the weights lack tensor {hf}")
        state[ours] = hf_state[hf].t() if transpose else hf_state[hf]
    load_state(model, {k: v.float() for k, v in state.items()}, str(hf_dir))
    return model.eval()
