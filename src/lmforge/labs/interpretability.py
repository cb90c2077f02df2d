"""Interpretability labs: why a sentiment classifier decided (attributions, rollout), and what each layer
of SmolLM2 would predict (logit lens). The methods live in :mod:`lmforge.interpret`; these labs run them
on real models, check them against each other and draw them."""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch

from lmforge.evaluate.bootstrap import paired_bootstrap_ci
from lmforge.infer.loading import load_model_dir
from lmforge.interop.convert import smollm2_dir
from lmforge.interpret.attribution import gradient_x_input, integrated_gradients, token_embedding
from lmforge.interpret.logit_lens import logit_lens, top_predictions
from lmforge.interpret.render import Highlight, plot_logit_lens, render_html, render_png
from lmforge.interpret.rollout import attention_rollout
from lmforge.io import pyplot, save_png
from lmforge.labs._common import bar_chart
from lmforge.labs._models import sentiment_classifier, sentiment_split, tiny_chat_model
from lmforge.labs.registry import LabContext, LabResult, Reference, lab
from lmforge.tasks.heads import TaskModel
from lmforge.viz.attention import attention_maps, token_labels

DOCS = "docs/labs-prompting-interpretability-ethics.md"
SHOWN = 4  # test sentences drawn as highlighted text
DELETE_K = 2  # tokens removed in the deletion check


@torch.no_grad()
def _probability(model: TaskModel, ids: torch.Tensor, target: int) -> float:
    return float(torch.softmax(model(ids[None], torch.ones_like(ids)[None]), -1)[0, target])


def _deleted(ids: torch.Tensor, positions: list[int], pad_id: int) -> torch.Tensor:
    out = ids.clone()
    out[positions] = pad_id
    return out


@lab(id="interpretability-ethics-attributions", phase="interpretability-ethics",
     title="Integrated gradients, gradient x input and attention rollout on a MiniLM sentiment classifier",
     teaches=("lmforge.interpret.attribution", "lmforge.interpret.rollout", "lmforge.interpret.render"),
     docs=f"{DOCS}#interpretability-ethics-attributions", minutes=6)
def attributions_lab(ctx: LabContext) -> LabResult:
    """Fine-tune MiniLM on review sentences, explain its test predictions three ways, and check the
    explanations: completeness of IG, and whether deleting the top-attributed tokens moves the prediction
    more than deleting random ones (the reference measured in the same run)."""
    model, codec, trained = sentiment_classifier(ctx, share=0.55)
    _, test = sentiment_split(ctx.smoke, ctx.seed)
    rng = random.Random(ctx.seed)
    deadline = ctx.deadline() - 10.0
    steps = 8 if ctx.smoke else 50
    rows: list[Highlight] = []
    rel_gaps, drop_ig, drop_gxi, drop_random = [], [], [], []
    for n, example in enumerate(test):
        if n >= SHOWN and time.monotonic() > deadline:
            break
        ids = torch.tensor(codec.single(codec.ids(example.text), 64))  # [CLS] ... [SEP]
        with torch.no_grad():
            target = int(model(ids[None], torch.ones_like(ids)[None]).argmax(-1))
        baseline_ids = torch.tensor([ids[0].item()] + [codec.pad_id] * (len(ids) - 2) + [ids[-1].item()])
        baseline = token_embedding(model)(baseline_ids)  # [CLS] [PAD]... [SEP]: "no words"
        ig = integrated_gradients(model, ids, target, baseline, steps=steps)
        gxi = gradient_x_input(model, ids, target)
        gap = float(ig.per_token.sum()) - ig.convergence_delta  # f(x) - f(baseline)
        rel_gaps.append(abs(ig.convergence_delta) / max(abs(gap), 1e-6))
        words = list(range(1, len(ids) - 1))  # never delete [CLS]/[SEP]
        if len(words) > DELETE_K:
            p = _probability(model, ids, target)
            for scores, drops in ((ig.per_token, drop_ig), (gxi.per_token, drop_gxi)):
                top = sorted(words, key=lambda i: -float(scores[i]))[:DELETE_K]
                drops.append(p - _probability(model, _deleted(ids, top, codec.pad_id), target))
            drop_random.append(p - _probability(model, _deleted(ids, rng.sample(words, DELETE_K), codec.pad_id),
                                                target))
        if n < SHOWN:
            label = model.config.labels[target]
            tokens = token_labels(codec.tokenizer, ids.tolist())
            rollout = attention_rollout(attention_maps(model.backbone, ids)).mean(0)  # mean pooling: all rows
            rows += [Highlight(f"“{example.text[:70]}” -> {label} (gold {example.label}): integrated gradients",
                               tokens, ig.per_token.tolist()),
                     Highlight("gradient x input", tokens, gxi.per_token.tolist()),
                     Highlight("attention rollout (unsigned: where the pooled vector reads from)", tokens,
                               rollout.tolist())]
    html = render_html(rows, ctx.out_dir / "attributions.html", "Why the classifier decided")
    png = render_png(rows, ctx.out_dir / "attributions.png", "Why the classifier decided")
    n = len(rel_gaps)
    gain = paired_bootstrap_ci(drop_ig, drop_random, seed=ctx.seed)
    mean = {name: sum(v) / len(v) for name, v in (("ig", drop_ig), ("gxi", drop_gxi), ("random", drop_random))}
    chart = bar_chart(ctx.out_dir / "deletion.png", ["top-2 by IG", "top-2 by grad x input", "2 random"],
                      [mean["ig"], mean["gxi"], mean["random"]], "drop in P(predicted class)",
                      f"Deleting {DELETE_K} tokens ([PAD]), {len(drop_ig)} test sentences")
    median_gap = sorted(rel_gaps)[n // 2]
    smoke = "smoke mode: 2 training steps, the classifier is untrained; " if ctx.smoke else ""
    return LabResult(
        headline=f"IG ({steps} steps) completeness gap median {median_gap:.1e} of |f(x) - f(baseline)| on {n} "
                 f"test sentences; deleting the top-{DELETE_K} IG tokens lowers P(predicted) by {mean['ig']:.3f} vs "
                 f"{mean['random']:.3f} for {DELETE_K} random tokens (paired diff {gain}); classifier accuracy "
                 f"{100 * trained.report.accuracy:.1f} %",
        metrics={"ig_completeness_gap_median": median_gap, "ig_completeness_gap_max": max(rel_gaps),
                 "deletion_drop_ig": mean["ig"], "deletion_drop_gxi": mean["gxi"],
                 "deletion_drop_random": mean["random"], "deletion_gain_low": gain.low,
                 "deletion_gain_high": gain.high, "classifier_accuracy": trained.report.accuracy,
                 "n_sentences": float(n)},
        reference=Reference("20 to 300 steps approximate the IG integral within 5 % (completeness: attributions "
                            "add up to F(x) - F(x')); random-token deletion is this run's own baseline",
                            "Sundararajan, Taly & Yan 2017, 'Axiomatic Attribution for Deep Networks', ICML, Sec. 5"),
        artifacts=[html, png, chart],
        notes=smoke + "Deletion replaces tokens by [PAD], itself an input the model never saw in training, so the "
                      "drop measures 'this token mattered' only roughly; rollout ignores values, MLPs and norms.",
    )


def _agreement(lens: torch.Tensor) -> list[float]:
    """Per layer, the share of positions whose lens top-1 token is the model's own (last row's) top-1."""
    best = lens.argmax(-1)  # (L + 1, T)
    return (best == best[-1]).float().mean(-1).tolist()


LENS_TEXT = ("The Eiffel Tower is in the city of Paris. The capital of Germany is Berlin, and the capital of "
             "Italy is Rome. Water freezes at zero degrees Celsius. One, two, three, four, five, six, seven.")
LENS_PROMPT = "The capital of France is"


@lab(id="interpretability-ethics-logit-lens", phase="interpretability-ethics",
     title="Logit lens on SmolLM2: what each layer would predict",
     teaches=("lmforge.interpret.logit_lens",), docs=f"{DOCS}#interpretability-ethics-logit-lens", minutes=2)
def logit_lens_lab(ctx: LabContext) -> LabResult:
    """Read SmolLM2's residual stream after each of its 30 layers with the final norm + LM head: a grid for
    one prompt, and for a paragraph the share of positions where layer l already predicts the final token."""
    if ctx.smoke:
        model, tokenizer, _ = tiny_chat_model(ctx.seed)
    else:
        model, tokenizer = load_model_dir(smollm2_dir())
    prompt_ids = torch.tensor(tokenizer.encode(LENS_PROMPT))
    lens = logit_lens(model, prompt_ids)  # (L + 1, T, V)
    with torch.no_grad():
        exact = float((lens[-1] - model(prompt_ids[None])[0]).abs().max())
    grid = plot_logit_lens(top_predictions(lens, tokenizer), token_labels(tokenizer, prompt_ids.tolist()),
                           ctx.out_dir / "logit_lens.png", f"logit lens: '{LENS_PROMPT}'")
    agreement = _agreement(logit_lens(model, torch.tensor(tokenizer.encode(LENS_TEXT))))
    half = next(layer for layer, share in enumerate(agreement) if share >= 0.5)
    curve = ctx.out_dir / "agreement.png"
    _plot_agreement(curve, agreement)
    final = tokenizer.decode([int(lens[-1, -1].argmax())])
    first = next(layer for layer in range(len(lens)) if int(lens[layer, -1].argmax()) == int(lens[-1, -1].argmax()))
    name = "tiny random Llama (smoke)" if ctx.smoke else "SmolLM2-135M-Instruct"
    return LabResult(
        headline=f"{name}: '{LENS_PROMPT}' -> {final!r}, first the lens's top token at layer {first} of "
                 f"{len(lens) - 1}; on a {len(LENS_TEXT.split())}-word paragraph half the positions "
                 f"already predict the final token at layer {half}; last layer's lens = logits (max diff {exact:.1e})",
        metrics={"first_layer_final_token": float(first), "half_agreement_layer": float(half),
                 "last_layer_max_abs_diff": exact, **{f"agreement_layer_{i}": a for i, a in enumerate(agreement)}},
        reference=Reference("the last layer's lens equals the model's logits (this run's exact check); GPT-2's "
                            "lens predictions approach the final one gradually over the layers",
                            "nostalgebraist 2020, 'interpreting GPT: the logit lens' (LessWrong); "
                            "Belrose et al. 2023, 'Eliciting Latent Predictions with the Tuned Lens'"),
        artifacts=[grid, curve],
        notes=("smoke mode: a tiny random model. " if ctx.smoke else "")
        + "Intermediate states are not in the last layer's basis; the lens is a lower bound on what a layer knows "
          "(the tuned lens learns a per-layer map instead).",
    )


def _plot_agreement(path: Path, agreement: list[float]) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.plot(range(len(agreement)), agreement, marker="o", markersize=3)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel("lens top-1 = final top-1")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
