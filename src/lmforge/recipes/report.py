"""``lmforge report``: one report card per model directory, markdown + PNG, written into the directory.

What a card holds, each measured here unless said otherwise:

- **size**: family, parameters, bytes on disk, context length, vocabulary;
- **speed** (language models): prefill tokens/s (one forward pass over ``speed_tokens`` tokens) and greedy
  decoding tokens/s (KV cache), with the CPU and its load average, since a shared machine slows both;
- **held-out text**: sliding-window perplexity in nats/token and bits per byte (:mod:`lmforge.evaluate.perplexity`);
  by default on the last 10% of the bundled tinyshakespeare (the quickstart's validation split), cut to
  ``max_chars`` characters to keep the card cheap;
- **tasks** (``--tasks kind=FILE``): ``choice=items.jsonl`` (acc / acc_norm, lm-eval style) on a language model,
  ``task=data`` (the fine-tune's own metrics) on a task directory. Each score stands next to a reference
  figure with its source: ``references`` (a JSON file ``{"metric": {"value": v, "source": "..."}}``) and, for
  a fine-tuned directory, the held-out score its fine-tune recorded in ``task.json``.

``compare`` puts two cards' numbers side by side (markdown + one PNG of bars).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lmforge.assets import tinyshakespeare_path
from lmforge.errors import ConfigError, DataError
from lmforge.evaluate.perplexity import sliding_window_perplexity
from lmforge.infer.engine import GenerationEngine
from lmforge.infer.loading import load_model_dir
from lmforge.infer.sampling import SamplingConfig
from lmforge.io import atomic_write, pyplot, read_json, read_text, save_png
from lmforge.models.base import Capability
from lmforge.precision import cpu_model_and_flags
from lmforge.recipes.evaluate import run_choice, run_task_eval
from lmforge.tasks.heads import load_task_model
from lmforge.tasks.predict import TASK_FILE, is_task_dir

CARD_MD, CARD_PNG, CARD_JSON = "report.md", "report.png", "report.json"


@dataclass
class TaskScore:
    task: str  # e.g. "choice: arc.jsonl"
    metric: str
    value: float
    reference: float | None = None
    source: str = ""


@dataclass
class Card:
    name: str
    family: str
    parameters: int
    disk_bytes: int
    context_length: int | None
    vocab_size: int | None
    machine: str
    speed: dict[str, float] = field(default_factory=dict)  # prefill_tok_s, decode_tok_s
    text: dict[str, Any] = field(default_factory=dict)  # source, n_chars, nats_per_token, bits_per_byte, ...
    tasks: list[TaskScore] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)  # what was measured how (see describe_settings)


def describe_settings(model_dir: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """The report's settings and the weight files' sizes and times, as JSON: a saved card is reused for a
    comparison only when both are unchanged (other held-out text or new weights mean other numbers)."""
    weights = {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in sorted(Path(model_dir).glob("*.safetensors"))}
    return json.loads(json.dumps({**settings, "weights": weights}, default=str))


def _machine() -> str:
    model, _ = cpu_model_and_flags()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{model}, {os.cpu_count()} CPUs, torch {torch.get_num_threads()} threads, load average {load:.1f}"


@torch.no_grad()
def _speed(model, n_tokens: int, new_tokens: int) -> dict[str, float]:
    ids = torch.randint(0, model.config.vocab_size, (1, min(n_tokens, model.context_length)),
                        generator=torch.Generator().manual_seed(0))
    model(ids[:, :8])  # warm-up
    start = time.perf_counter()
    model(ids)
    prefill = ids.shape[1] / (time.perf_counter() - start)
    prompt = ids[0, :16].tolist()
    new_tokens = min(new_tokens, model.context_length - len(prompt))
    start = time.perf_counter()
    out = GenerationEngine(model).generate(prompt, SamplingConfig(max_new_tokens=new_tokens, temperature=0.0))
    return {"prefill_tok_s": prefill, "decode_tok_s": len(out) / (time.perf_counter() - start)}


def _held_out_text(text: Path | None, max_chars: int) -> tuple[str, str]:
    if text is not None:
        return read_text(text)[:max_chars], str(text)
    corpus = read_text(tinyshakespeare_path())
    held_out = corpus[int(len(corpus) * 0.9):]
    return held_out[:max_chars], f"tinyshakespeare, last 10% (first {min(max_chars, len(held_out)):,} chars)"


def _references(path: Path | None) -> dict[str, dict]:
    if path is None:
        return {}
    refs = read_json(path, "reference figures")
    if not isinstance(refs, dict) or not all(isinstance(v, dict) and "value" in v and "source" in v
                                             for v in refs.values()):
        raise DataError(f"{path}: expected {{\"metric\": {{\"value\": number, \"source\": \"where it is from\"}}}}")
    return refs


def _task_scores(model_dir: Path, spec: str, refs: dict[str, dict], recorded: dict) -> list[TaskScore]:
    kind, _, file = spec.partition("=")
    if kind not in ("choice", "task") or not file:
        raise ConfigError(f"--tasks {spec!r}: expected choice=ITEMS.jsonl or task=DATA")
    label = f"{kind}: {Path(file).name}"
    if kind == "choice":
        r = run_choice(model_dir, Path(file))
        scores = {"acc": r.acc, "acc_norm": r.acc_norm}
    else:
        scores = run_task_eval(model_dir, Path(file))
        scores.pop("n")
    out = []
    for metric, value in scores.items():
        ref = refs.get(metric)
        if ref is not None:
            out.append(TaskScore(label, metric, value, float(ref["value"]), str(ref["source"])))
        elif metric in recorded:
            out.append(TaskScore(label, metric, value, float(recorded[metric]), "this model's fine-tune, task.json"))
        else:
            out.append(TaskScore(label, metric, value))
    return out


def build_card(model_dir: Path, text: Path | None = None, max_chars: int = 20_000, tasks: list[str] | None = None,
               references: Path | None = None, context: int = 512, stride: int = 256, speed_tokens: int = 256,
               new_tokens: int = 32) -> Card:
    model_dir = Path(model_dir)
    refs = _references(references)
    disk = sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))
    if is_task_dir(model_dir):
        model = load_task_model(model_dir)
        recorded = read_json(model_dir / TASK_FILE, "task settings")
        card = Card(model_dir.resolve().name, f"task ({recorded.get('task')}) on {model.config.backbone['family']}",
                    sum(p.numel() for p in model.parameters()), disk, None, model.config.backbone.get("vocab_size"),
                    _machine())
    else:
        model, tokenizer = load_model_dir(model_dir, Capability.GENERATE)
        recorded = {}
        card = Card(model_dir.resolve().name, model.family, model.num_parameters(), disk, model.context_length,
                    tokenizer.vocab_size, _machine())
        card.speed = _speed(model, speed_tokens, new_tokens)
        held_out, source = _held_out_text(text, max_chars)
        window = min(context, model.context_length)
        ppl = sliding_window_perplexity(model, tokenizer.encode(held_out), len(held_out.encode()), window,
                                        min(stride, window))
        card.text = {"source": source, "context": window, "stride": min(stride, window), **ppl.as_dict()}
        for metric in ("bits_per_byte", "nats_per_token"):
            if metric in refs:
                card.text[f"{metric}_reference"] = refs[metric]
    for spec in tasks or []:
        card.tasks += _task_scores(model_dir, spec, refs, recorded)
    card.settings = describe_settings(model_dir, {"text": text, "max_chars": max_chars, "tasks": tasks,
                                                  "references": references, "context": context, "stride": stride})
    return card


def _fmt(v: float | None, digits: int = 4) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def card_markdown(card: Card) -> str:
    lines = [f"# Report card: {card.name}", "",
             "| family | parameters | on disk | context | vocabulary |", "|---|---:|---:|---:|---:|",
             f"| {card.family} | {card.parameters:,} | {card.disk_bytes / 2**20:,.1f} MiB | "
             f"{card.context_length or '–'} | {card.vocab_size or '–'} |", ""]
    if card.speed:
        lines += [f"**Speed** ({card.machine}): prefill {card.speed['prefill_tok_s']:,.0f} tokens/s, greedy decoding "
                  f"{card.speed['decode_tok_s']:,.1f} tokens/s.", ""]
    if card.text:
        t = card.text
        lines += [f"**Held-out text** ({t['source']}; window {t['context']}, stride {t['stride']}, "
                  f"{t['n_tokens']:,} tokens scored):", "", "| metric | value | reference | source |",
                  "|---|---:|---:|---|"]
        for metric in ("bits_per_byte", "nats_per_token", "perplexity"):
            ref = t.get(f"{metric}_reference")
            lines.append(f"| {metric.replace('_', ' ')} | {_fmt(t[metric])} | "
                         f"{_fmt(ref['value']) if ref else '–'} | {ref['source'] if ref else ''} |")
        lines.append("")
    if card.tasks:
        lines += ["**Tasks**", "", "| task | metric | value | reference | source |", "|---|---|---:|---:|---|"]
        lines += [f"| {s.task} | {s.metric} | {_fmt(s.value)} | {_fmt(s.reference)} | {s.source} |"
                  for s in card.tasks]
        lines.append("")
    lines.append(f"![report card]({CARD_PNG})")
    return "\n".join(lines) + "\n"


def _bars(cards: list[Card], path: Path) -> None:
    """One panel per measured quantity, one bar per card (and a reference bar where there is one)."""
    plt = pyplot()

    panels: list[tuple[str, list[str], list[float]]] = []
    if any(c.text for c in cards):
        names, values = [], []
        for c in cards:
            if c.text:
                names.append(c.name)
                values.append(c.text["bits_per_byte"])
                if ref := c.text.get("bits_per_byte_reference"):
                    names.append(f"reference\n({ref['source'][:24]})")
                    values.append(ref["value"])
        panels.append(("bits per byte (lower is better)", names, values))
    if any(c.speed for c in cards):
        panels.append(("greedy decoding tokens/s", [c.name for c in cards if c.speed],
                       [c.speed["decode_tok_s"] for c in cards if c.speed]))
    for metric in dict.fromkeys(f"{s.task} {s.metric}" for c in cards for s in c.tasks):
        names, values = [], []
        for c in cards:
            for s in c.tasks:
                if f"{s.task} {s.metric}" == metric:
                    names.append(c.name)
                    values.append(s.value)
                    if s.reference is not None:
                        names.append(f"reference\n({s.source[:24]})")
                        values.append(s.reference)
        panels.append((metric, names, values))
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.6 * max(1, len(panels)), 3.4), squeeze=False)
    for ax, (title, names, values) in zip(axes[0], panels, strict=False):
        ax.bar(range(len(values)), values, color=["tab:blue" if not n.startswith("reference") else "tab:gray"
                                                  for n in names])
        ax.set_xticks(range(len(values)), names, fontsize=7, rotation=15)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def write_card(card: Card, out_dir: Path) -> Path:
    """``report.md``, ``report.png`` and ``report.json`` (the numbers) in ``out_dir``; returns the markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    _bars([card], out_dir / CARD_PNG)
    with atomic_write(out_dir / CARD_JSON) as f:
        json.dump(asdict(card), f, indent=1)
    with atomic_write(out_dir / CARD_MD) as f:
        f.write(card_markdown(card))
    return out_dir / CARD_MD


def compare_markdown(a: Card, b: Card, png_name: str) -> str:
    rows = [("parameters", f"{a.parameters:,}", f"{b.parameters:,}"),
            ("on disk (MiB)", f"{a.disk_bytes / 2**20:,.1f}", f"{b.disk_bytes / 2**20:,.1f}")]
    for key, label in (("prefill_tok_s", "prefill tokens/s"), ("decode_tok_s", "decoding tokens/s")):
        rows.append((label, _fmt(a.speed.get(key), 1), _fmt(b.speed.get(key), 1)))
    for key in ("bits_per_byte", "nats_per_token"):
        rows.append((key.replace("_", " "), _fmt(a.text.get(key)), _fmt(b.text.get(key))))
    scores_b = {(s.task, s.metric): s.value for s in b.tasks}
    rows += [(f"{s.task} {s.metric}", _fmt(s.value), _fmt(scores_b.get((s.task, s.metric)))) for s in a.tasks]
    lines = [f"# {a.name} vs {b.name}", "", f"| | {a.name} | {b.name} |", "|---|---:|---:|"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows]
    sources = {c.text.get("source") for c in (a, b) if c.text}
    machines = "; ".join(dict.fromkeys(f"{c.name}: {c.machine}" for c in (a, b)))
    lines += ["", f"Held-out text: {'; '.join(sorted(sources)) or '–'}. Measured on {machines}.", "",
              f"![comparison]({png_name})"]
    return "\n".join(lines) + "\n"


def write_comparison(a: Card, b: Card, out: Path) -> Path:
    """``out`` (markdown) and the PNG beside it."""
    png = out.with_suffix(".png")
    _bars([a, b], png)
    with atomic_write(out) as f:
        f.write(compare_markdown(a, b, png.name))
    return out


def load_or_build_card(model_dir: Path, **settings: Any) -> Card:
    """The card saved in ``model_dir`` by an earlier report with the same settings and weights, else a new one
    (written there too). ``settings`` are build_card's keyword arguments, all of them."""
    saved = Path(model_dir) / CARD_JSON
    if saved.is_file():
        data = read_json(saved, "report card")
        if data.get("settings") == describe_settings(model_dir, settings):
            try:
                return Card(**{**data, "tasks": [TaskScore(**t) for t in data["tasks"]]})
            except (TypeError, KeyError) as e:
                raise DataError(f"{saved}: not a report card lmforge wrote ({e}); delete it to measure again") from e
    card = build_card(model_dir, **settings)
    write_card(card, Path(model_dir))
    return card
