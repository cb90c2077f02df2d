"""lmforge Bert <-> Hugging Face BERT checkpoints (``BertForPreTraining``,
``BertForMaskedLM`` or ``BertModel``).

HF keeps query/key/value apart (fused into our ``qkv``); everything else is a
rename. Released encoders (e.g. all-MiniLM-L6-v2) often ship without the
pretraining heads, sometimes without the pooler, and ``BertForMaskedLM`` keeps
the MLM head without the next-sentence head and pooler (our ``pair_head=False``):
import notices which parts the file has and configures the model to match.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

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
from lmforge.models.bert import Bert, BertConfig
from lmforge.models.registry import load_state


def bert_name_map(c: BertConfig, prefix: str = "") -> list[Tensor]:
    """(lmforge, HF) names. ``prefix`` is "bert." in checkpoints saved with heads."""
    if c.share_layers or c.embedding_dim not in (None, c.d_model):
        raise ConfigError("HF BERT has neither shared layers nor factorized embeddings (those are ALBERT options)")

    def linear(ours: str, hf: str) -> list[Tensor]:
        return [rename(f"{ours}.weight", f"{hf}.weight"), rename(f"{ours}.bias", f"{hf}.bias")]

    e = prefix + "embeddings."
    names = [rename("tok_emb.weight", e + "word_embeddings.weight"),
             rename("pos_emb.table.weight", e + "position_embeddings.weight"),
             rename("type_emb.weight", e + "token_type_embeddings.weight"),
             *linear("emb_norm", e + "LayerNorm")]
    for i in range(c.n_layers):
        ours, hf = f"blocks.{i}.", f"{prefix}encoder.layer.{i}."
        qkv = [f"{hf}attention.self.{p}" for p in ("query", "key", "value")]
        names += [
            Tensor(ours + "attn.qkv.weight", tuple(n + ".weight" for n in qkv)),
            Tensor(ours + "attn.qkv.bias", tuple(n + ".bias" for n in qkv)),
            *linear(ours + "attn.proj", hf + "attention.output.dense"),
            *linear(ours + "norm1", hf + "attention.output.LayerNorm"),
            *linear(ours + "mlp.up", hf + "intermediate.dense"),
            *linear(ours + "mlp.down", hf + "output.dense"),
            *linear(ours + "norm2", hf + "output.LayerNorm"),
        ]
    if c.pooler:
        names += linear("pooler", prefix + "pooler.dense")
    if c.pretraining_heads:
        names += [*linear("mlm_transform", "cls.predictions.transform.dense"),
                  *linear("mlm_norm", "cls.predictions.transform.LayerNorm"),
                  rename("mlm_bias", "cls.predictions.bias")]
        if c.pair_head:
            names += linear("nsp_head", "cls.seq_relationship")
    return names


def from_hf_config(hf: dict, pooler: bool, heads: bool, source: str = "config.json") -> BertConfig:
    activation = {v: k for k, v in ACTIVATIONS.items()}.get(hf.get("hidden_act", "gelu"))
    if activation is None:
        raise ConfigError(f"{source}: unsupported hidden_act {hf.get('hidden_act')!r}")
    if (kind := hf.get("position_embedding_type", "absolute")) != "absolute":
        raise ConfigError(f"{source}: position_embedding_type {kind!r} is not supported, only 'absolute'")
    return BertConfig(
        vocab_size=hf["vocab_size"], context_length=hf.get("max_position_embeddings", 512),
        d_model=hf["hidden_size"], n_layers=hf["num_hidden_layers"], n_heads=hf["num_attention_heads"],
        d_mlp=hf["intermediate_size"], type_vocab_size=hf.get("type_vocab_size", 2), activation=activation,
        layer_norm_eps=float(hf.get("layer_norm_eps", 1e-12)), dropout=float(hf.get("hidden_dropout_prob", 0.1)),
        pad_id=hf.get("pad_token_id") or 0, pooler=pooler, pretraining_heads=heads,
    )


def bert_architecture(c: BertConfig, family: str, pair_head: str) -> str:
    """The HF class of ``family`` ("Bert", "Albert") that holds ``c``'s heads: ``{family}Model``,
    ``...ForPreTraining`` (MLM + the ``pair_head``: next-sentence or sentence-order) or ``...ForMaskedLM``;
    a ConfigError names what it cannot hold."""
    if c.replaced_token_head:
        raise ConfigError(f"HF {family.upper()} has no replaced-token head: "
                          "export the model as ELECTRA (lmforge export)")
    if not c.pretraining_heads:
        return f"{family}Model"
    if c.pair_head:
        return f"{family}ForPreTraining"
    if c.pooler:
        raise ConfigError(f"HF {family}ForMaskedLM has no pooler: set pooler=false or keep the {pair_head} head")
    return f"{family}ForMaskedLM"


def head_prefix(hf_state: dict[str, torch.Tensor], prefix: str) -> str:
    """``prefix`` ("bert.", "albert.", "electra.") if the checkpoint was saved with a head, "" for a bare encoder."""
    return prefix if any(k.startswith(prefix) for k in hf_state) else ""


def load_bert(config: BertConfig, hf_state: dict[str, torch.Tensor], names: list[Tensor], hf_dir: Path,
              cls: type[Bert] = Bert) -> Bert:
    """A ``cls`` (Bert or a subclass) built from ``config`` and filled from ``hf_state`` along ``names``
    (every tensor must be there)."""
    model = cls(config)
    load_state(model, from_hf_state(hf_state, names, str(hf_dir)), str(hf_dir))
    return model.eval()


def to_hf_config(c: BertConfig) -> dict:
    """The HF config fields BERT, ALBERT and ELECTRA share (each export adds "architectures")."""
    return {
        "model_type": "bert", "vocab_size": c.vocab_size, "max_position_embeddings": c.context_length,
        "hidden_size": c.d_model, "num_hidden_layers": c.n_layers, "num_attention_heads": c.n_heads,
        "intermediate_size": c.d_mlp, "type_vocab_size": c.type_vocab_size,
        "hidden_act": hf_activation(c.activation, "hidden_act"), "layer_norm_eps": c.layer_norm_eps,
        "hidden_dropout_prob": c.dropout, "attention_probs_dropout_prob": c.dropout,
        "pad_token_id": c.pad_id, "position_embedding_type": "absolute", "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


def write_bert_family(model: Bert, out_dir: str | Path, names: list[Tensor], config: dict) -> None:
    """Write ``model``'s tensors along ``names`` (q/k/v split) and the shared config fields updated by ``config``
    (each family's architecture, model_type and own fields): the end of every BERT-family export."""
    c = model.config
    tensors = to_hf_state(model.state_dict(), names, lambda entry: [c.d_model] * 3)
    write_hf_dir(out_dir, {**to_hf_config(c), **config}, tensors)


def export_hf_bert(model: Bert, out_dir: str | Path) -> str:
    """Write a directory that HF BERT loads; returns the transformers class to load it with."""
    c = model.config
    architecture = bert_architecture(c, "Bert", "next-sentence")
    prefix = "" if architecture == "BertModel" else "bert."
    write_bert_family(model, out_dir, bert_name_map(c, prefix), {"architectures": [architecture]})
    return architecture


def import_hf_bert(hf_dir: str | Path) -> Bert:
    """Load an HF BERT directory (config.json + safetensors); heads and pooler are taken if present."""
    hf_dir = Path(hf_dir)
    hf_state = read_hf_weights(hf_dir)
    prefix = head_prefix(hf_state, "bert.")
    config = from_hf_config(read_hf_config(hf_dir, ("bert",)), pooler=f"{prefix}pooler.dense.weight" in hf_state,
                            heads="cls.predictions.transform.dense.weight" in hf_state,
                            source=str(hf_dir / "config.json"))
    config = replace(config, pair_head="cls.seq_relationship.weight" in hf_state)
    return load_bert(config, hf_state, bert_name_map(config, prefix), hf_dir)
