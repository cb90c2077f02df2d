"""Phase 6, attention and Transformers: every head of a real BERT-style encoder on one sentence."""

from __future__ import annotations

import torch

from lmforge.errors import LmforgeError
from lmforge.interop.convert import minilm_hf_path
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.viz.attention import attention_maps, load_model_and_tokenizer, plot_attention, token_labels

SENTENCE = "The cat sat on the mat."


def _transformers_attention(hf_dir: str, ids: list[int]) -> torch.Tensor:
    """The reference: Hugging Face ``BertModel``'s own attention probabilities, (layers, heads, T, T)."""
    try:
        from transformers import AutoModel
    except ImportError:
        raise LmforgeError("this lab compares with Hugging Face transformers: `pip install transformers`") from None
    model = AutoModel.from_pretrained(hf_dir, attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions])


@lab(id="transformers-attention", phase="transformers", title='Attention heatmaps of "The cat sat on the mat."',
     teaches=("lmforge.models.blocks.attention", "lmforge.viz.attention", "lmforge.interop.convert"),
     docs="docs/labs.md#transformers-attention", minutes=1)
def attention_lab(ctx: LabContext) -> LabResult:
    """Load all-MiniLM-L6-v2 (a distilled BERT: 6 layers x 12 heads) into lmforge's BERT, capture every head's
    attention on the sentence, draw the grid, and check the maps against transformers' for the same weights."""
    hf_dir = minilm_hf_path()
    model, tokenizer = load_model_and_tokenizer(hf_dir)
    ids = tokenizer.encode(SENTENCE, add_special_tokens=True)  # [CLS] ... [SEP]
    maps = attention_maps(model, torch.tensor(ids))  # (layers, heads, T, T)
    labels = token_labels(tokenizer, ids)
    grid = plot_attention(maps, labels, ctx.out_dir / "attention.png", f"all-MiniLM-L6-v2 · {SENTENCE}",
                          layers=[0, 5] if ctx.smoke else None, heads=[0, 1] if ctx.smoke else None)
    special = [i for i, t in enumerate(labels) if t in ("[CLS]", "[SEP]")]
    to_special = maps[..., special].sum(-1).mean().item()  # share of each row's attention on [CLS]/[SEP]
    layers, heads, n, _ = maps.shape
    metrics = {"layers": layers, "heads": heads, "tokens": n, "attention_to_special": to_special}
    if ctx.smoke:  # importing transformers costs more than the rest of the lab: checked at the default budget
        check = "transformers check skipped in smoke mode"
    else:
        metrics["max_abs_diff_vs_transformers"] = (maps - _transformers_attention(str(hf_dir), ids)).abs().max().item()
        check = f"max |lmforge - transformers| = {metrics['max_abs_diff_vs_transformers']:.1e}"
    return LabResult(
        headline=f"{layers} layers x {heads} heads over {n} tokens; {100 * to_special:.1f} % of attention goes to "
                 f"[CLS]/[SEP] (2 of {n} tokens); {check}",
        metrics=metrics,
        reference=Reference("transformers BertModel (eager attention, output_attentions=True) on the same "
                            "checkpoint and ids: the same maps (difference above)",
                            "Hugging Face transformers, measured in this run"),
        artifacts=[grid],
        notes="Clark et al. 2019 ('What Does BERT Look At?') found much of BERT-base's attention on [SEP]; "
              "MiniLM is a distilled 6-layer model, so its share differs.",
    )
