"""lmforge Bert <-> Hugging Face ELECTRA checkpoints.

An ELECTRA encoder is BERT's (same tensor names under ``electra.``), with an
E -> C projection when the embeddings are narrower, and no pooler. HF ships
the two pretrained halves as separate checkpoints, and each is one lmforge Bert:

- the discriminator, ``ElectraForPreTraining``: ``replaced_token_head=True``
  (dense -> act -> one logit per token: "was this token replaced?");
- the generator, ``ElectraForMaskedLM``: the MLM head alone (``pair_head=False``),
  whose activation HF fixes to exact GELU, so ``activation`` must be "gelu";
- ``ElectraModel``: the encoder alone.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.interop.hf_bert import bert_name_map, from_hf_config, head_prefix, load_bert, write_bert_family
from lmforge.interop.hf_common import Tensor, read_hf_config, read_hf_weights, rename, rewrite_hf_names
from lmforge.models.bert import Bert, BertConfig

BERT_TO_ELECTRA = [(r"^cls\.predictions\.transform\.", "generator_predictions."),  # HF BERT -> HF ELECTRA names
                   (r"^cls\.predictions\.bias$", "generator_lm_head.bias")]


def electra_name_map(c: BertConfig, prefix: str) -> list[Tensor]:
    """(lmforge, HF) names. ``prefix`` is "electra." in checkpoints saved with a head."""
    plain = replace(c, embedding_dim=None, embedding_projection=False)  # the BERT map for everything E-agnostic
    names = rewrite_hf_names(bert_name_map(plain, prefix), BERT_TO_ELECTRA)
    if c.embedding_width != c.d_model:
        names += [rename(f"emb_proj.{p}", f"{prefix}embeddings_project.{p}") for p in ("weight", "bias")]
    if c.replaced_token_head:
        names += [rename(f"rtd_head.{ours}.{p}", f"discriminator_predictions.{hf}.{p}")
                  for ours, hf in (("dense", "dense"), ("out", "dense_prediction")) for p in ("weight", "bias")]
    return names


def electra_holds(c: BertConfig) -> bool:
    """Whether an HF ELECTRA checkpoint can hold every part of ``c``."""
    generator_head = c.pretraining_heads and not c.pair_head and c.activation == "gelu"
    heads_fit = not c.pretraining_heads or (generator_head and not c.replaced_token_head)
    return heads_fit and not (c.share_layers or c.embedding_projection or c.pooler)


def _architecture(c: BertConfig) -> str:
    """The HF class for ``c``, or a ConfigError saying what ELECTRA can hold."""
    if not electra_holds(c):
        raise ConfigError("HF ELECTRA holds an encoder without shared layers, forced embedding projection or "
                          "pooler, and at most one head: the discriminator's (replaced_token_head) or the "
                          "generator's MLM head (no next-sentence head, activation exact GELU as HF fixes it)")
    if c.replaced_token_head:
        return "ElectraForPreTraining"
    return "ElectraForMaskedLM" if c.pretraining_heads else "ElectraModel"


def export_hf_electra(model: Bert, out_dir: str | Path) -> str:
    """Write a directory that HF ELECTRA loads; returns the transformers class to load it with."""
    c = model.config
    architecture = _architecture(c)
    prefix = "" if architecture == "ElectraModel" else "electra."
    write_bert_family(model, out_dir, electra_name_map(c, prefix), {
        "architectures": [architecture], "model_type": "electra", "embedding_size": c.embedding_width})
    return architecture


def import_hf_electra(hf_dir: str | Path) -> Bert:
    """Load an HF ELECTRA directory (discriminator, generator or bare encoder) as a Bert."""
    hf_dir = Path(hf_dir)
    source = str(hf_dir / "config.json")
    hf = read_hf_config(hf_dir, ("electra",))
    hf_state = read_hf_weights(hf_dir)
    prefix = head_prefix(hf_state, "electra.")
    generator = "generator_predictions.dense.weight" in hf_state
    if generator and not hf.get("tie_word_embeddings", True):
        raise ConfigError(f"{source}: a generator with an untied output matrix is not supported")
    config = replace(from_hf_config(hf, pooler=False, heads=generator, source=source),
                     embedding_dim=hf.get("embedding_size") or hf["hidden_size"], pair_head=False,
                     replaced_token_head="discriminator_predictions.dense.weight" in hf_state)
    _architecture(config)  # refuses what ELECTRA cannot hold before a model is built
    return load_bert(config, hf_state, electra_name_map(config, prefix), hf_dir)
