"""lmforge XLNet <-> Hugging Face ``XLNetLMHeadModel`` checkpoints.

HF stores each projection as a (d_model, heads, head_dim) tensor (``q k v r o``) and applies it with
einsum; lmforge uses ``nn.Linear`` weights (out, in), with q/k/v fused: import flattens and transposes them,
export undoes it. Refused in one line naming the field, before any tensor is read: causal attention
(``attn_type="uni"``), the bidirectional-data batch trick (``bi_data``), an untied output matrix and a
head width other than ``d_model / n_head``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lmforge.errors import ConfigError
from lmforge.interop.hf_common import ACTIVATIONS as HF_ACTIVATIONS
from lmforge.interop.hf_common import (
    Tensor,
    from_hf_state,
    hf_activation,
    read_hf_config,
    read_hf_weights,
    rename,
    to_hf_state,
    write_hf_dir,
)
from lmforge.models.registry import load_state
from lmforge.models.xlnet import XLNet, XLNetConfig

ACTIVATIONS = {**HF_ACTIVATIONS, "silu": "silu"}
HEADWISE = ("q", "k", "v", "r", "o")  # HF (C, H, D) projections


def xlnet_name_map(c: XLNetConfig) -> list[Tensor]:
    """(lmforge, HF) names, HF projections taken as flattened (out, in) matrices (see :func:`_flatten`)."""
    def linear(ours: str, hf: str) -> list[Tensor]:
        return [rename(f"{ours}.weight", f"{hf}.weight"), rename(f"{ours}.bias", f"{hf}.bias")]

    names = [rename("tok_emb.weight", "transformer.word_embedding.weight"),
             rename("mask_emb", "transformer.mask_emb"), rename("lm_bias", "lm_loss.bias")]
    for i in range(c.n_layers):
        ours, hf = f"blocks.{i}.", f"transformer.layer.{i}."
        a = hf + "rel_attn."
        names += [Tensor(ours + "attn.qkv.weight", (a + "q", a + "k", a + "v")),
                  rename(ours + "attn.pos.weight", a + "r"), rename(ours + "attn.proj.weight", a + "o"),
                  rename(ours + "attn.content_bias", a + "r_w_bias"),
                  rename(ours + "attn.position_bias", a + "r_r_bias"),
                  rename(ours + "attn.segment_bias", a + "r_s_bias"),
                  rename(ours + "attn.segment_embed", a + "seg_embed"),
                  *linear(ours + "norm1", a + "layer_norm"),
                  *linear(ours + "mlp.up", hf + "ff.layer_1"), *linear(ours + "mlp.down", hf + "ff.layer_2"),
                  *linear(ours + "norm2", hf + "ff.layer_norm")]
    return names


def _flatten(hf_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF (C, H, D) projections -> (H*D, C) Linear weights (``o``: (C, H*D)); mask_emb (1, 1, C) -> (C,)."""
    out = {}
    for name, t in hf_state.items():
        kind = name.rsplit(".", 1)[-1]
        if kind in HEADWISE and t.dim() == 3:
            t = t.flatten(1) if kind == "o" else t.flatten(1).t()
        out[name] = t.flatten() if name == "transformer.mask_emb" else t
    return out


def _unflatten(tensors: dict[str, torch.Tensor], c: XLNetConfig) -> dict[str, torch.Tensor]:
    shape = (c.d_model, c.n_heads, c.d_model // c.n_heads)
    out = {}
    for name, t in tensors.items():
        kind = name.rsplit(".", 1)[-1]
        if ".rel_attn." in name and kind in HEADWISE:
            t = t.reshape(shape) if kind == "o" else t.t().reshape(shape)
        out[name] = t.reshape(1, 1, -1) if name == "transformer.mask_emb" else t.contiguous()
    return out


def from_hf_config(hf: dict, source: str) -> XLNetConfig:
    def refuse(field: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: {field}={hf.get(field)!r}: {why}")

    if hf.get("attn_type", "bi") != "bi":
        raise refuse("attn_type", "only bidirectional attention ('bi', XLNet's pretraining setting) is supported")
    if hf.get("bi_data", False):
        raise refuse("bi_data", "the forward/backward batch halves are not supported (needs false)")
    if not hf.get("tie_word_embeddings", True):
        raise refuse("tie_word_embeddings", "the output matrix must be the word embeddings")
    if hf.get("d_head", hf["d_model"] // hf["n_head"]) * hf["n_head"] != hf["d_model"]:
        raise refuse("d_head", f"only d_model / n_head = {hf['d_model'] // hf['n_head']} is supported")
    activation = {v: k for k, v in ACTIVATIONS.items()}.get(hf.get("ff_activation", "gelu"))
    if activation is None:
        raise refuse("ff_activation", f"expected one of {sorted(ACTIVATIONS.values())}")
    clamp = hf.get("clamp_len", -1)
    return XLNetConfig(vocab_size=hf["vocab_size"], d_model=hf["d_model"], n_layers=hf["n_layer"],
                       n_heads=hf["n_head"], d_mlp=hf["d_inner"], activation=activation,
                       layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)),
                       clamp_len=clamp if clamp > 0 else None, dropout=float(hf.get("dropout", 0.1)))


def export_hf_xlnet(model: XLNet, out_dir: str | Path) -> str:
    """Write a directory that HF ``XLNetLMHeadModel`` loads; returns that class name."""
    c = model.config
    tensors = to_hf_state(model.state_dict(), xlnet_name_map(c), lambda entry: [c.d_model] * 3)
    config = {"model_type": "xlnet", "architectures": ["XLNetLMHeadModel"], "vocab_size": c.vocab_size,
              "d_model": c.d_model, "n_layer": c.n_layers, "n_head": c.n_heads, "d_head": c.d_model // c.n_heads,
              "d_inner": c.d_mlp, "ff_activation": hf_activation(c.activation, "ff_activation", ACTIVATIONS),
              "layer_norm_eps": c.layer_norm_eps,
              "attn_type": "bi", "bi_data": False, "clamp_len": c.clamp_len or -1, "dropout": c.dropout,
              "tie_word_embeddings": True, "torch_dtype": "float32"}
    write_hf_dir(out_dir, config, _unflatten(tensors, c))
    return "XLNetLMHeadModel"


def import_hf_xlnet(hf_dir: str | Path) -> XLNet:
    """Load an HF XLNet directory (config.json + safetensors) with its LM head."""
    hf_dir = Path(hf_dir)
    config = from_hf_config(read_hf_config(hf_dir, ("xlnet",)), str(hf_dir / "config.json"))
    model = XLNet(config)
    state = from_hf_state(_flatten(read_hf_weights(hf_dir)), xlnet_name_map(config), str(hf_dir))
    load_state(model, state, str(hf_dir))
    return model.eval()
