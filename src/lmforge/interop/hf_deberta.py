"""lmforge Deberta <-> Hugging Face DeBERTa-v2/v3 checkpoints (``DebertaV2ForMaskedLM`` or ``DebertaV2Model``).

HF keeps query/key/value apart (fused into our ``qkv``). Its MLM head comes under two names with the same
math: the "legacy" ``cls.predictions.transform.*`` (the default) and ``lm_predictions.lm_head.*``
(``legacy=false``); import takes either, export writes the legacy one. What lmforge does not build is
refused before any tensor is read, in one line naming the config field: DeBERTa v1 (``model_type``
"deberta": absolute positions inside attention, a ``p2p`` term), the convolution beside the first layer
(``conv_kernel_size``), other position terms (``pos_att_type``), a head width other than
``hidden_size / num_attention_heads`` (``attention_head_size``), and an untied MLM decoder.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.interop.hf_common import (
    ACTIVATIONS,
    Tensor,
    from_hf_state,
    hf_activation,
    read_hf_config,
    read_hf_weights,
    rename,
    to_hf_state,
    write_hf_dir,
)
from lmforge.models.deberta import Deberta, DebertaConfig
from lmforge.models.registry import load_state

HEADS = {"legacy": "cls.predictions.", "lm_predictions": "lm_predictions.lm_head."}


def deberta_name_map(c: DebertaConfig, prefix: str = "deberta.", head: str = "legacy") -> list[Tensor]:
    """(lmforge, HF) names. ``prefix`` is "deberta." in checkpoints saved with the MLM head."""
    def linear(ours: str, hf: str) -> list[Tensor]:
        return [rename(f"{ours}.weight", f"{hf}.weight"), rename(f"{ours}.bias", f"{hf}.bias")]

    e = prefix + "embeddings."
    names = [rename("tok_emb.weight", e + "word_embeddings.weight"), *linear("emb_norm", e + "LayerNorm")]
    if c.position_biased_input:
        names.append(rename("pos_emb.table.weight", e + "position_embeddings.weight"))
    if c.type_vocab_size:
        names.append(rename("type_emb.weight", e + "token_type_embeddings.weight"))
    if c.embedding_dim not in (None, c.d_model):
        names.append(rename("emb_proj.weight", e + "embed_proj.weight"))
    if c.relative_attention:
        names.append(rename("relative.table.weight", prefix + "encoder.rel_embeddings.weight"))
        if c.norm_relative:
            names += linear("relative.norm", prefix + "encoder.LayerNorm")
    for i in range(c.n_layers):
        ours, hf = f"blocks.{i}.", f"{prefix}encoder.layer.{i}."
        qkv = [f"{hf}attention.self.{p}_proj" for p in ("query", "key", "value")]
        names += [Tensor(ours + "attn.qkv.weight", tuple(n + ".weight" for n in qkv)),
                  Tensor(ours + "attn.qkv.bias", tuple(n + ".bias" for n in qkv)),
                  *linear(ours + "attn.proj", hf + "attention.output.dense"),
                  *linear(ours + "norm1", hf + "attention.output.LayerNorm"),
                  *linear(ours + "mlp.up", hf + "intermediate.dense"),
                  *linear(ours + "mlp.down", hf + "output.dense"),
                  *linear(ours + "norm2", hf + "output.LayerNorm")]
        if c.relative_attention and not c.share_att_key:  # separate projections of the position table
            for kind, term in (("key", "c2p"), ("query", "p2c")):
                if term in c.terms:
                    names += linear(f"{ours}attn.pos_{kind}", f"{hf}attention.self.pos_{kind}_proj")
    return names + (_head_names(c, head) if c.mlm_head else [])


def _head_names(c: DebertaConfig, head: str) -> list[Tensor]:
    h = HEADS[head]
    transform = h + "transform." if head == "legacy" else h
    return [rename("mlm_transform.weight", transform + "dense.weight"),
            rename("mlm_transform.bias", transform + "dense.bias"),
            rename("mlm_norm.weight", transform + "LayerNorm.weight"),
            rename("mlm_norm.bias", transform + "LayerNorm.bias"),
            rename("mlm_bias", h + "bias")]


def from_hf_config(hf: dict, source: str) -> DebertaConfig:
    """A DebertaConfig for an HF DeBERTa-v2 config, or a ConfigError naming the first field lmforge lacks."""
    def refuse(field: str, why: str) -> ConfigError:
        return ConfigError(f"{source}: {field}={hf.get(field)!r}: {why}")

    if hf.get("model_type") == "deberta":
        raise refuse("model_type", "DeBERTa v1 (absolute positions in attention, p2p) is not supported; "
                                   "only 'deberta-v2' (DeBERTa-v2/v3)")
    if hf.get("conv_kernel_size", 0) > 0:
        raise refuse("conv_kernel_size", "the convolution beside the first layer is not supported (needs 0)")
    terms = hf.get("pos_att_type") or []
    terms = [t.strip() for t in terms.lower().split("|")] if isinstance(terms, str) else list(terms)
    if not set(terms) <= {"c2p", "p2c"}:
        raise refuse("pos_att_type", "only the c2p and p2c position terms are supported")
    width = hf["hidden_size"] // hf["num_attention_heads"]
    if hf.get("attention_head_size", width) != width:
        raise refuse("attention_head_size", f"only hidden_size / num_attention_heads = {width} is supported")
    norm = [t.strip() for t in str(hf.get("norm_rel_ebd", "none")).lower().split("|")]
    if not set(norm) <= {"none", "layer_norm"}:
        raise refuse("norm_rel_ebd", "expected 'none' or 'layer_norm'")
    if not hf.get("tie_word_embeddings", True):
        raise refuse("tie_word_embeddings", "the MLM decoder must be the word embeddings")
    activation = {v: k for k, v in ACTIVATIONS.items()}.get(hf.get("hidden_act", "gelu"))
    if activation is None:
        raise refuse("hidden_act", f"expected one of {sorted(ACTIVATIONS.values())}")
    embedding = hf.get("embedding_size", hf["hidden_size"])
    return DebertaConfig(
        vocab_size=hf["vocab_size"], context_length=hf.get("max_position_embeddings", 512),
        d_model=hf["hidden_size"], n_layers=hf["num_hidden_layers"], n_heads=hf["num_attention_heads"],
        d_mlp=hf["intermediate_size"], type_vocab_size=hf.get("type_vocab_size", 0),
        embedding_dim=None if embedding == hf["hidden_size"] else embedding,
        relative_attention=bool(hf.get("relative_attention", False)),
        position_terms="|".join(t for t in ("c2p", "p2c") if t in terms),
        position_buckets=max(hf.get("position_buckets", -1), 0),
        max_relative=hf.get("max_relative_positions", -1) if hf.get("max_relative_positions", -1) > 0 else None,
        share_att_key=bool(hf.get("share_att_key", False)), norm_relative="layer_norm" in norm,
        position_biased_input=bool(hf.get("position_biased_input", True)), activation=activation,
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-7)), dropout=float(hf.get("hidden_dropout_prob", 0.1)),
        pad_id=hf.get("pad_token_id") or 0,
    )


def to_hf_config(c: DebertaConfig) -> dict:
    return {
        "model_type": "deberta-v2", "architectures": ["DebertaV2ForMaskedLM" if c.mlm_head else "DebertaV2Model"],
        "vocab_size": c.vocab_size, "max_position_embeddings": c.context_length, "hidden_size": c.d_model,
        "num_hidden_layers": c.n_layers, "num_attention_heads": c.n_heads, "intermediate_size": c.d_mlp,
        "type_vocab_size": c.type_vocab_size, "embedding_size": c.embedding_dim or c.d_model,
        "relative_attention": c.relative_attention, "pos_att_type": list(c.terms),
        "position_buckets": c.position_buckets or -1, "max_relative_positions": c.max_relative or -1,
        "share_att_key": c.share_att_key, "norm_rel_ebd": "layer_norm" if c.norm_relative else "none",
        "position_biased_input": c.position_biased_input, "hidden_act": hf_activation(c.activation, "hidden_act"),
        "layer_norm_eps": c.layer_norm_eps, "hidden_dropout_prob": c.dropout,
        "attention_probs_dropout_prob": c.dropout, "pad_token_id": c.pad_id, "legacy": True,
        "tie_word_embeddings": True, "torch_dtype": "float32",
    }


def export_hf_deberta(model: Deberta, out_dir: str | Path) -> str:
    """Write a directory that HF DeBERTa-v2 loads; returns the transformers class to load it with."""
    c = model.config
    names = deberta_name_map(c, "deberta." if c.mlm_head else "")
    write_hf_dir(out_dir, to_hf_config(c), to_hf_state(model.state_dict(), names, lambda entry: [c.d_model] * 3))
    return to_hf_config(c)["architectures"][0]


def import_hf_deberta(hf_dir: str | Path) -> Deberta:
    """Load an HF DeBERTa-v2 directory (config.json + safetensors); the MLM head is taken if present."""
    hf_dir = Path(hf_dir)
    source = str(hf_dir / "config.json")
    config = from_hf_config(read_hf_config(hf_dir, ("deberta-v2", "deberta")), source)
    hf_state = read_hf_weights(hf_dir)
    head = next((name for name, h in HEADS.items() if h + "bias" in hf_state), None)
    if head == "lm_predictions" and config.embedding_dim is not None:
        raise ConfigError(f"{source}: embedding_size={config.embedding_dim}: the legacy=false MLM head needs "
                          f"embedding_size = hidden_size ({config.d_model})")
    config = replace(config, mlm_head=head is not None)
    prefix = "deberta." if any(k.startswith("deberta.") for k in hf_state) else ""
    model = Deberta(config)
    names = deberta_name_map(config, prefix, head or "legacy")
    load_state(model, from_hf_state(hf_state, names, str(hf_dir)), str(hf_dir))
    return model.eval()
