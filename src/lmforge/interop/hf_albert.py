"""lmforge Bert (ALBERT options) <-> Hugging Face ALBERT checkpoints
(``AlbertForPreTraining``, ``AlbertForMaskedLM`` or ``AlbertModel``).

ALBERT is BERT with factorized embeddings (an E-wide table projected up to C)
and cross-layer sharing, so the tensors are BERT's under other names: this
module takes the BERT name map and renames its HF side. What differs:

- HF ALBERT always has the E -> C projection (``embedding_hidden_mapping_in``),
  even when E == C: our ``embedding_projection`` option;
- its layers come in ``num_hidden_groups`` groups of ``inner_group_num``
  layers. Released checkpoints use one group of one layer (``share_layers``);
  one group per layer (no sharing) maps too; other splits are refused;
- the sentence-*order* head (are A and B swapped?) has the NSP head's shape;
  ``AlbertForMaskedLM`` has the MLM head only (``pair_head=False``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.interop.hf_bert import (
    bert_architecture,
    bert_name_map,
    from_hf_config,
    head_prefix,
    load_bert,
    write_bert_family,
)
from lmforge.interop.hf_common import Tensor, hf_activation, read_hf_config, read_hf_weights, rename, rewrite_hf_names
from lmforge.models.bert import Bert, BertConfig

# HF BERT name piece -> HF ALBERT name piece, applied in this order.
BERT_TO_ALBERT = [
    (r"encoder\.layer\.(\d+)\.", r"encoder.albert_layer_groups.\1.albert_layers.0."),
    (r"attention\.(self|output)\.", "attention."),
    (r"intermediate\.dense", "ffn"),
    (r"output\.dense", "ffn_output"),
    (r"output\.LayerNorm", "full_layer_layer_norm"),
    (r"pooler\.dense", "pooler"),
    (r"cls\.predictions\.(transform\.)?", "predictions."),
    (r"cls\.seq_relationship", "sop_classifier.classifier"),
]


def is_albert(c: BertConfig) -> bool:
    """Whether the config uses an ALBERT option that plain HF BERT lacks."""
    return c.share_layers or c.embedding_projection or c.embedding_width != c.d_model


def albert_name_map(c: BertConfig, prefix: str) -> list[Tensor]:
    """(lmforge, HF) names. ``prefix`` is "albert." in checkpoints saved with heads."""
    # A plain-BERT view of the config with one entry per stored block, so the BERT map applies.
    blocks = 1 if c.share_layers else c.n_layers
    plain = replace(c, n_layers=blocks, share_layers=False, embedding_dim=None, embedding_projection=False)
    names = rewrite_hf_names(bert_name_map(plain, prefix), BERT_TO_ALBERT)
    mapping_in = prefix + "encoder.embedding_hidden_mapping_in"
    return names + [rename(f"emb_proj.{p}", f"{mapping_in}.{p}") for p in ("weight", "bias")]


def export_hf_albert(model: Bert, out_dir: str | Path) -> str:
    """Write a directory that HF ALBERT loads; returns the transformers class to load it with."""
    c = model.config
    if model.emb_proj is None:  # E == C without a projection: ALBERT's is then the identity
        raise ConfigError("HF ALBERT always projects embeddings: set embedding_projection=true (or embedding_dim)")
    architecture = bert_architecture(c, "Albert", "sentence-order")
    prefix = "" if architecture == "AlbertModel" else "albert."
    write_bert_family(model, out_dir, albert_name_map(c, prefix), {
        "architectures": [architecture], "model_type": "albert", "embedding_size": c.embedding_width,
        "num_hidden_groups": 1 if c.share_layers else c.n_layers, "inner_group_num": 1,
        "hidden_act": hf_activation(c.activation, "hidden_act")})
    return architecture


def import_hf_albert(hf_dir: str | Path) -> Bert:
    """Load an HF ALBERT directory (config.json + safetensors); heads and pooler are taken if present."""
    hf_dir = Path(hf_dir)
    source = str(hf_dir / "config.json")
    hf = read_hf_config(hf_dir, ("albert",))
    layers, groups = hf["num_hidden_layers"], hf.get("num_hidden_groups", 1)
    if hf.get("inner_group_num", 1) != 1 or groups not in (1, layers):
        raise ConfigError(f"{source}: only inner_group_num=1 with num_hidden_groups 1 (all layers shared) or "
                          f"{layers} (none shared) are supported, got {hf.get('inner_group_num')} and {groups}")
    hf_state = read_hf_weights(hf_dir)
    prefix = head_prefix(hf_state, "albert.")
    heads = "predictions.dense.weight" in hf_state
    config = replace(from_hf_config(hf, pooler=f"{prefix}pooler.weight" in hf_state, heads=heads, source=source),
                     embedding_dim=hf.get("embedding_size", 128), share_layers=groups == 1,
                     embedding_projection=True, pair_head="sop_classifier.classifier.weight" in hf_state)
    return load_bert(config, hf_state, albert_name_map(config, prefix), hf_dir)
