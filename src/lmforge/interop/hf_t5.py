"""lmforge T5 <-> Hugging Face ``T5ForConditionalGeneration`` checkpoints.

HF nests each block as ``layer.0`` (self-attention), ``layer.1`` (cross-attention,
decoder only) and a last ``layer`` (the MLP). lmforge fuses q/k/v (self) and
k/v (cross), and gate/up of the gated-GELU MLP (``wi_0``, ``wi_1``).
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
from lmforge.models.registry import load_state
from lmforge.models.t5 import T5, T5Config


def t5_name_map(c: T5Config) -> list[Tensor]:
    names = [rename("tok_emb.weight", "shared.weight"),
             rename("enc_bias.table.weight", "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
             rename("dec_bias.table.weight", "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
             rename("enc_norm.weight", "encoder.final_layer_norm.weight"),
             rename("dec_norm.weight", "decoder.final_layer_norm.weight")]
    if not c.tie_embeddings:
        names.append(rename("lm_head.weight", "lm_head.weight"))

    def attention(ours: str, hf: str) -> list[Tensor]:
        return [Tensor(ours + "qkv.weight", tuple(f"{hf}.{p}.weight" for p in "qkv")),
                rename(ours + "proj.weight", hf + ".o.weight")]

    def mlp(ours: str, hf: str) -> list[Tensor]:
        if c.feed_forward == "gated-gelu":
            gate_up = Tensor(ours + "gate_up.weight", (hf + ".wi_0.weight", hf + ".wi_1.weight"))
            return [gate_up, rename(ours + "down.weight", hf + ".wo.weight")]
        return [rename(ours + "up.weight", hf + ".wi.weight"), rename(ours + "down.weight", hf + ".wo.weight")]

    for stack, n_layers in (("encoder", c.n_layers), ("decoder", c.decoder_layers)):
        for i in range(n_layers):
            ours, hf = f"{stack}.{i}.", f"{stack}.block.{i}.layer."
            last = 2 if stack == "decoder" else 1
            names += [rename(ours + "norm1.weight", hf + "0.layer_norm.weight"),
                      *attention(ours + "attn.", hf + "0.SelfAttention"),
                      rename(ours + "norm2.weight", f"{hf}{last}.layer_norm.weight"),
                      *mlp(ours + "mlp.", f"{hf}{last}.DenseReluDense")]
            if stack == "decoder":
                names += [rename(ours + "norm_cross.weight", hf + "1.layer_norm.weight"),
                          rename(ours + "cross_attn.q.weight", hf + "1.EncDecAttention.q.weight"),
                          Tensor(ours + "cross_attn.kv.weight", (hf + "1.EncDecAttention.k.weight",
                                                                 hf + "1.EncDecAttention.v.weight")),
                          rename(ours + "cross_attn.proj.weight", hf + "1.EncDecAttention.o.weight")]
    return names


def _tied(hf: dict) -> bool:
    """T5 v1.0 ties the output matrix to the embedding and scales by 1/sqrt(d_model); v1.1 does neither.
    transformers 5 records v1.1 as ``scale_decoder_outputs: false`` (and always ties the matrix)."""
    return bool(hf.get("tie_word_embeddings", True)) and bool(hf.get("scale_decoder_outputs", True))


def from_hf_config(hf: dict, source: str = "config.json") -> T5Config:
    proj = hf.get("feed_forward_proj", "relu")
    if proj not in ("relu", "gated-gelu"):
        raise ConfigError(f"{source}: feed_forward_proj {proj!r} is not supported (expected relu or gated-gelu)")
    return T5Config(
        vocab_size=hf["vocab_size"], d_model=hf["d_model"], d_head=hf["d_kv"], d_mlp=hf["d_ff"],
        n_layers=hf["num_layers"], n_decoder_layers=hf.get("num_decoder_layers") or hf["num_layers"],
        n_heads=hf["num_heads"], relative_buckets=hf.get("relative_attention_num_buckets", 32),
        relative_max_distance=hf.get("relative_attention_max_distance", 128), feed_forward=proj,
        norm_eps=float(hf.get("layer_norm_epsilon", 1e-6)), dropout=float(hf.get("dropout_rate", 0.1)),
        tie_embeddings=_tied(hf), pad_id=hf.get("pad_token_id") or 0,
        decoder_start_id=hf.get("decoder_start_token_id") or 0,
    )


def to_hf_config(c: T5Config) -> dict:
    return {
        "architectures": ["T5ForConditionalGeneration"], "model_type": "t5", "vocab_size": c.vocab_size,
        "d_model": c.d_model, "d_kv": c.d_head, "d_ff": c.d_mlp, "num_layers": c.n_layers,
        "num_decoder_layers": c.decoder_layers, "num_heads": c.n_heads,
        "relative_attention_num_buckets": c.relative_buckets,
        "relative_attention_max_distance": c.relative_max_distance, "feed_forward_proj": c.feed_forward,
        "layer_norm_epsilon": c.norm_eps, "dropout_rate": c.dropout, "tie_word_embeddings": c.tie_embeddings,
        "pad_token_id": c.pad_id, "decoder_start_token_id": c.decoder_start_id, "eos_token_id": 1,
        "is_encoder_decoder": True, "torch_dtype": "float32",
    }


def export_hf_t5(model: T5, out_dir: str | Path) -> None:
    """Write a directory that ``T5ForConditionalGeneration.from_pretrained`` loads."""
    c = model.config
    inner = c.n_heads * c.d_head

    def sizes(entry: Tensor) -> list[int]:
        return [c.d_mlp] * 2 if "gate_up" in entry.ours else [inner] * len(entry.hf)

    write_hf_dir(out_dir, to_hf_config(c), to_hf_state(model.state_dict(), t5_name_map(c), sizes))


def import_hf_t5(hf_dir: str | Path) -> T5:
    """Load an HF T5 directory (config.json + safetensors) as an lmforge T5."""
    hf_dir = Path(hf_dir)
    config = from_hf_config(read_hf_config(hf_dir, ("t5",)), str(hf_dir / "config.json"))
    model = T5(config)
    hf_state = read_hf_weights(hf_dir)
    if not config.tie_embeddings and "lm_head.weight" not in hf_state:  # unscaled, but saved with a tied matrix
        hf_state["lm_head.weight"] = hf_state["shared.weight"]
    load_state(model, from_hf_state(hf_state, t5_name_map(config), str(hf_dir)), str(hf_dir))
    return model.eval()
