"""Attention heatmaps: what every head of every layer looks at, for one sentence.

Row i of a head's (T, T) map is the softmax distribution of token i's query
over the keys: where that token "reads" from. Causal models (GPT, Llama) show
a lower triangle; encoders (BERT) a full square, often with heads that attend
to the previous token, the next one, ``[SEP]``/``[CLS]``, or the same word.

Capture: attention modules have a *reference* path that keeps its weights
(``last_weights``, (B, H, T, S)). :func:`attention_maps` switches every
self-attention module to that path for one forward pass and records the
weights after each call with a forward hook, so models that reuse one block
for several layers (ALBERT) still yield one map per layer. The outputs are
the same numbers the fused path computes (a test in ``tests/models`` checks
the two paths agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.io import atomic_write, read_json
from lmforge.models.base import Capability, ModelBase
from lmforge.models.blocks.attention import SelfAttention
from lmforge.tokenizers import HFTokenizer, Tokenizer, load_tokenizer

MAX_PANELS = 12  # default cap on layers and on heads shown (SmolLM2 has 30 x 9)


@torch.no_grad()
def attention_maps(model: ModelBase, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Self-attention weights for one sequence ``ids`` (T,): a (layers, heads, T, T) tensor.

    Encoder-decoder models (e.g. T5) show their encoder's self-attention.
    """
    modules = [m for m in model.modules() if isinstance(m, SelfAttention)]
    if not modules:
        raise ConfigError(f"{type(model).__name__} has no self-attention layers to visualize")
    captured: list[torch.Tensor] = []
    saved_impl = [m.impl for m in modules]
    hooks = [m.register_forward_hook(lambda mod, args, out: captured.append(mod.last_weights[0].float()))
             for m in modules]
    was_training = model.training
    try:
        model.eval()
        for m in modules:
            m.impl = "reference"  # the path that keeps its weights
        batch = ids.unsqueeze(0)  # (1, T)
        if Capability.SEQ2SEQ in model.capabilities:
            model.encode(batch)
        elif token_type_ids is not None:
            model(batch, token_type_ids.unsqueeze(0))
        else:
            model(batch)
    finally:
        for m, impl in zip(modules, saved_impl, strict=True):
            m.impl, m.last_weights = impl, None
        for h in hooks:
            h.remove()
        model.train(was_training)
    return torch.stack(captured)  # (L, H, T, T)


def pick(n: int, wanted: Sequence[int] | None, what: str) -> list[int]:
    """Indices to show: ``wanted`` (checked), or all when at most MAX_PANELS, else MAX_PANELS spread evenly."""
    if wanted:
        bad = [i for i in wanted if not 0 <= i < n]
        if bad:
            raise ConfigError(f"{what} {bad} out of range: the model has {n} {what} (0..{n - 1})")
        return list(wanted)
    if n <= MAX_PANELS:
        return list(range(n))
    return sorted({round(k * (n - 1) / (MAX_PANELS - 1)) for k in range(MAX_PANELS)})


def plot_attention(
    maps: torch.Tensor,
    labels: Sequence[str],
    out: str | Path,
    title: str = "",
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
) -> Path:
    """Write a PNG grid of heatmaps: one row per layer, one column per head, token labels on the outer axes."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    n_layers, n_heads, T, _ = maps.shape
    rows, cols = pick(n_layers, layers, "layers"), pick(n_heads, heads, "heads")
    panel = max(1.6, 0.16 * T)  # inches; long sentences get bigger panels so labels stay readable
    fig = Figure(figsize=(0.8 + panel * len(cols), 0.8 + panel * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    font = max(4.0, min(8.0, 90 / T))
    for r, layer in enumerate(rows):
        for c, head in enumerate(cols):
            ax = axes[r][c]
            ax.imshow(maps[layer, head].numpy(), cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks(range(T))
            ax.set_yticks(range(T))
            ax.set_xticklabels(labels if r == len(rows) - 1 else [], rotation=90, fontsize=font)
            ax.set_yticklabels(labels if c == 0 else [], fontsize=font)
            ax.tick_params(length=0)
            if r == 0:
                ax.set_title(f"head {head}", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"layer {layer}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=11)
    out = Path(out)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return out


def token_labels(tokenizer: Tokenizer, ids: Sequence[int]) -> list[str]:
    """Readable axis labels: each token decoded alone, a leading space shown as ``␣``."""
    labels = []
    for i in ids:
        text = tokenizer.decode([i])
        labels.append(("␣" + text[1:] if text.startswith(" ") else text).replace("\n", "\\n") or "∅")
    return labels


def load_model_and_tokenizer(path: str | Path) -> tuple[nn.Module, Tokenizer]:
    """An lmforge model directory, a Hugging Face checkpoint folder, or a llama.cpp ``.gguf`` file."""
    from lmforge.infer.loading import load_model_dir

    path = Path(path)
    if path.suffix == ".gguf":
        from lmforge.interop.gguf import load_gguf_llama

        return load_gguf_llama(path)[0].eval(), load_tokenizer(path)
    config = read_json(path / "config.json", "model config")
    if "family" in config:
        return load_model_dir(path)
    if "model_type" in config:
        from lmforge.interop.convert import import_hf

        return import_hf(path).eval(), load_tokenizer(path)
    raise ConfigError(f"{path / 'config.json'}: neither an lmforge model ('family') nor an HF one ('model_type')")


def attention_figure(
    text: str,
    model_path: str | Path,
    out: str | Path,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
) -> Path:
    """Tokenize ``text`` as the model expects (``[CLS] ... [SEP]`` for BERT), capture and plot its attention."""
    model, tokenizer = load_model_and_tokenizer(model_path)
    if isinstance(tokenizer, HFTokenizer):
        ids = tokenizer.encode(text, add_special_tokens=True)
    else:
        ids = tokenizer.encode(text)
    if not ids:
        raise ConfigError("the text encodes to no tokens; give some text to look at")
    limit = getattr(model.config, "context_length", None)
    if limit is not None and len(ids) > limit:
        raise ConfigError(f"the text is {len(ids)} tokens; this model reads at most {limit}")
    maps = attention_maps(model, torch.tensor(ids))
    title = f"{model.family} · {Path(model_path).name} · {len(ids)} tokens"
    return plot_attention(maps, token_labels(tokenizer, ids), out, title, layers, heads)
