"""lmforge Roberta <-> Hugging Face ``RobertaForMaskedLM`` / ``RobertaModel`` checkpoints.

RoBERTa's encoder tensors are BERT's under ``roberta.``; the MLM head is ``lm_head.dense``,
``lm_head.layer_norm`` and ``lm_head.bias`` (the output matrix is tied to the word embeddings),
and HF applies exact GELU in that head whatever ``hidden_act`` says. The position table has
``max_position_embeddings = context_length + pad_token_id + 1`` rows (see models/roberta.py).

Only those two classes are read: a checkpoint of another head (classification, QA, a causal
decoder), with cross-attention or untied output weights is refused in one line naming the field
or tensor, before anything is built.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.interop.hf_bert import bert_name_map, from_hf_config, head_prefix, load_bert, write_bert_family
from lmforge.interop.hf_common import (
    Tensor,
    read_hf_config,
    read_hf_weights,
    rewrite_hf_names,
)
from lmforge.models.roberta import Roberta, RobertaConfig

BERT_TO_ROBERTA = [(r"^cls\.predictions\.transform\.dense", "lm_head.dense"),
                   (r"^cls\.predictions\.transform\.LayerNorm", "lm_head.layer_norm"),
                   (r"^cls\.predictions\.bias$", "lm_head.bias")]
ARCHITECTURES = ("RobertaForMaskedLM", "RobertaModel")
TIED_COPIES = ("lm_head.decoder.weight", "lm_head.decoder.bias")  # older files store the tied tensors twice
REFUSED_FLAGS = ("is_decoder", "add_cross_attention")


def roberta_name_map(c: RobertaConfig, prefix: str) -> list[Tensor]:
    """(lmforge, HF) names; ``prefix`` is "roberta." in checkpoints saved with a head."""
    return rewrite_hf_names(bert_name_map(c, prefix), BERT_TO_ROBERTA)


def _architecture(c: RobertaConfig) -> str:
    if c.replaced_token_head:
        raise ConfigError("HF RoBERTa has no replaced-token head")
    if not c.pretraining_heads:
        return "RobertaModel"
    if c.pooler:
        raise ConfigError("HF RobertaForMaskedLM has no pooler: set pooler=false")
    if c.activation != "gelu":
        raise ConfigError(f"HF RoBERTa's MLM head uses exact GELU; activation={c.activation!r} cannot be exported")
    return "RobertaForMaskedLM"


def export_hf_roberta(model: Roberta, out_dir: str | Path) -> str:
    """Write a directory that HF RoBERTa loads; returns the transformers class to load it with."""
    c = model.config
    architecture = _architecture(c)
    prefix = "roberta." if architecture == "RobertaForMaskedLM" else ""
    write_bert_family(model, out_dir, roberta_name_map(c, prefix), {
        "architectures": [architecture], "model_type": "roberta", "max_position_embeddings": c.position_rows,
        "add_cross_attention": False, "is_decoder": False})
    return architecture


def _check_variant(hf: dict, source: str) -> None:
    """Refuse, naming the field, what lmforge's Roberta does not implement."""
    architectures = hf.get("architectures") or ["RobertaModel"]
    unknown = [a for a in architectures if a not in ARCHITECTURES]
    if unknown:
        raise ConfigError(f"{source}: architectures {unknown} is not supported; expected one of {list(ARCHITECTURES)}")
    for flag in REFUSED_FLAGS:
        if hf.get(flag):
            raise ConfigError(f"{source}: {flag}=true (a RoBERTa decoder) is not supported")
    if not hf.get("tie_word_embeddings", True):
        raise ConfigError(f"{source}: tie_word_embeddings=false (an untied MLM output matrix) is not supported")


def import_hf_roberta(hf_dir: str | Path) -> Roberta:
    """Load an HF RoBERTa directory (MLM head and pooler taken if present) as an lmforge Roberta."""
    hf_dir = Path(hf_dir)
    source = str(hf_dir / "config.json")
    hf = read_hf_config(hf_dir, ("roberta",))
    _check_variant(hf, source)
    hf_state = read_hf_weights(hf_dir)
    prefix = head_prefix(hf_state, "roberta.")
    bert = from_hf_config(hf, pooler=f"{prefix}pooler.dense.weight" in hf_state,
                          heads="lm_head.dense.weight" in hf_state, source=source)
    pad_id = hf.get("pad_token_id", 1)
    context = hf.get("max_position_embeddings", 514) - pad_id - 1
    if context <= 0:
        raise ConfigError(f"{source}: max_position_embeddings must exceed pad_token_id + 1 (positions start there)")
    config = RobertaConfig(**{**dataclasses.asdict(bert), "pair_head": False, "pad_id": pad_id,
                              "context_length": context})
    if config.pretraining_heads and config.activation != "gelu":
        raise ConfigError(f"{source}: hidden_act={hf.get('hidden_act')!r} with an MLM head: HF's head applies exact "
                          "GELU whatever hidden_act says, lmforge's the model's activation; only 'gelu' is supported")
    names = roberta_name_map(config, prefix)
    known = {n for entry in names for n in entry.hf} | set(TIED_COPIES) | {f"{prefix}embeddings.position_ids"}
    extra = sorted(set(hf_state) - known)
    if extra:
        raise ConfigError(f"{hf_dir}: tensor {extra[0]!r} belongs to a head or variant lmforge's RoBERTa "
                          "does not implement")
    return load_bert(config, hf_state, names, hf_dir, cls=Roberta)
