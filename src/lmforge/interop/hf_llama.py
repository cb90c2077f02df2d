"""lmforge Llama <-> Hugging Face ``LlamaForCausalLM`` and ``MistralForCausalLM`` checkpoints.

Mistral's tensors are Llama's; its ``sliding_window`` (null: full attention) becomes the config's.

lmforge fuses q/k/v into one ``qkv`` matrix and gate/up into ``gate_up``; HF
keeps them apart, so those entries concatenate on import and split on export.
Everything else is a rename.
"""

from __future__ import annotations

from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.interop.hf_common import (
    Tensor,
    from_hf_state,
    read_hf_config,
    read_hf_weights,
    rename,
    to_hf_state,
    write_hf_dir,
)
from lmforge.models.llama import Llama, LlamaConfig
from lmforge.models.registry import load_state

MODEL_TYPES = ("llama", "mistral")  # same tensors; Mistral may add a sliding window


def llama_name_map(c: LlamaConfig) -> list[Tensor]:
    names = [rename("tok_emb.weight", "model.embed_tokens.weight"), rename("norm.weight", "model.norm.weight")]
    if not c.tie_embeddings:
        names.append(rename("lm_head.weight", "lm_head.weight"))
    for i in range(c.n_layers):
        ours, hf = f"blocks.{i}.", f"model.layers.{i}."
        attn = [f"{hf}self_attn.{p}_proj" for p in "qkv"]
        names += [
            rename(ours + "norm1.weight", hf + "input_layernorm.weight"),
            Tensor(ours + "attn.qkv.weight", tuple(a + ".weight" for a in attn)),
            rename(ours + "attn.proj.weight", hf + "self_attn.o_proj.weight"),
            rename(ours + "norm2.weight", hf + "post_attention_layernorm.weight"),
            Tensor(ours + "mlp.gate_up.weight", (hf + "mlp.gate_proj.weight", hf + "mlp.up_proj.weight")),
            rename(ours + "mlp.down.weight", hf + "mlp.down_proj.weight"),
        ]
        if c.attention_bias:  # HF's attention_bias puts biases on q, k, v and o
            names += [Tensor(ours + "attn.qkv.bias", tuple(a + ".bias" for a in attn)),
                      rename(ours + "attn.proj.bias", hf + "self_attn.o_proj.bias")]
    return names


def _split_sizes(c: LlamaConfig):
    q, kv = c.n_heads * c.head_width, c.n_kv_heads * c.head_width
    return lambda entry: [q, kv, kv] if ".qkv." in entry.ours else [c.d_mlp, c.d_mlp]


def from_hf_config(hf: dict, source: str = "config.json") -> LlamaConfig:
    if hf.get("hidden_act", "silu") != "silu" or hf.get("mlp_bias"):
        raise ConfigError(f"{source}: only SiLU MLPs without bias are supported")
    window = hf.get("sliding_window") if hf.get("model_type") == "mistral" else None  # HF Llama ignores the field
    if window is not None and (not isinstance(window, int) or window <= 0):
        raise ConfigError(f"{source}: sliding_window must be a positive integer or null, got {window!r}")
    # transformers 5 writes "rope_parameters"; older files "rope_theta" + "rope_scaling"
    rope = dict(hf.get("rope_parameters") or {**(hf.get("rope_scaling") or {}), "rope_theta": hf.get("rope_theta")})
    theta = rope.pop("rope_theta", None) or 10000.0
    kind = rope.pop("rope_type", rope.pop("type", "default"))
    n_heads = hf["num_attention_heads"]
    return LlamaConfig(
        vocab_size=hf["vocab_size"],
        context_length=hf.get("max_position_embeddings", 2048),
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=n_heads,
        n_kv_heads=hf.get("num_key_value_heads") or n_heads,
        d_mlp=hf["intermediate_size"],
        head_dim=hf.get("head_dim"),
        rope_theta=float(theta),
        rope_scaling=None if kind == "default" else {"rope_type": kind, **rope},
        norm_eps=float(hf.get("rms_norm_eps", 1e-6)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        attention_bias=bool(hf.get("attention_bias", False)),
        sliding_window=window,
    )


def to_hf_config(c: LlamaConfig, bos_id: int | None = None, eos_id: int | None = None) -> dict:
    if c.sliding_window is not None:  # HF Llama has no window; Mistral has no attention biases
        if c.attention_bias:
            raise ConfigError("sliding_window with attention_bias: HF MistralForCausalLM has no attention biases")
        return {**_llama_hf_config(c, bos_id, eos_id), "architectures": ["MistralForCausalLM"],
                "model_type": "mistral", "sliding_window": c.sliding_window}
    return _llama_hf_config(c, bos_id, eos_id)


def _llama_hf_config(c: LlamaConfig, bos_id: int | None, eos_id: int | None) -> dict:
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": c.vocab_size,
        "hidden_size": c.d_model,
        "intermediate_size": c.d_mlp,
        "num_hidden_layers": c.n_layers,
        "num_attention_heads": c.n_heads,
        "num_key_value_heads": c.n_kv_heads,
        "head_dim": c.head_width,
        "max_position_embeddings": c.context_length,
        "rms_norm_eps": c.norm_eps,
        "rope_theta": c.rope_theta,
        "rope_scaling": c.rope_scaling,
        "tie_word_embeddings": c.tie_embeddings,
        "attention_bias": c.attention_bias,
        "mlp_bias": False,
        "hidden_act": "silu",
        "bos_token_id": bos_id,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }


def export_hf_llama(model: Llama, out_dir: str | Path, bos_id: int | None = None, eos_id: int | None = None) -> str:
    """Write a directory that ``LlamaForCausalLM`` (``MistralForCausalLM`` with a sliding window) loads;
    returns that class's name."""
    c = model.config
    if c.parallel_block:
        raise ConfigError("parallel_block=true: HF LlamaForCausalLM runs attention and MLP in sequence; "
                          "a PaLM-style parallel block cannot be exported to it")
    config = to_hf_config(c, bos_id, eos_id)
    write_hf_dir(out_dir, config, to_hf_state(model.state_dict(), llama_name_map(c), _split_sizes(c)))
    return config["architectures"][0]


def import_hf_llama(hf_dir: str | Path) -> Llama:
    """Load an HF Llama-architecture directory (``config.json`` + safetensors) as an lmforge Llama."""
    hf_dir = Path(hf_dir)
    config = from_hf_config(read_hf_config(hf_dir, MODEL_TYPES), str(hf_dir / "config.json"))
    model = Llama(config)
    state = from_hf_state(read_hf_weights(hf_dir), llama_name_map(config), str(hf_dir))
    load_state(model, state, str(hf_dir))
    return model.eval()
