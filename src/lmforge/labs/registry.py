"""The lab registry: the roadmap's phases, the ``@lab`` decorator, discovery and :func:`run_lab`.

A lab is a function ``(LabContext) -> LabResult`` that *uses* the library (never a second
implementation), measures something within a time budget and says what a published or
reference figure is for the same thing. Registering is a decorator, so adding a lab is
adding a function to a module in this package; :func:`discover` imports every module here.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import math
import pkgutil
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from lmforge.errors import ConfigError, LmforgeError
from lmforge.io import write_json
from lmforge.seeding import seed_everything
from lmforge.train.distributed import SINGLE


@dataclass(frozen=True)
class Phase:
    """One step of the roadmap: what it is called, where it is documented, which library modules it teaches."""

    key: str
    title: str
    docs: str
    modules: tuple[str, ...]


# The roadmap, in the order a learner walks it (issue #22).
PHASES: tuple[Phase, ...] = (
    Phase("text", "Text basics: normalization, tokenizers", "docs/tokenizers.md",
          ("lmforge.text", "lmforge.tokenizers")),
    Phase("classic", "Classic NLP: bag-of-words, n-grams, Naive Bayes, logistic regression",
          "docs/text-classic-embeddings.md", ("lmforge.classic",)),
    Phase("embeddings", "Word embeddings: word2vec, GloVe, FastText", "docs/text-classic-embeddings.md",
          ("lmforge.embeddings",)),
    Phase("foundations", "Neural networks and backprop: autograd, CNNs, autoencoders, GANs, Siamese",
          "docs/labs-foundations.md", ("lmforge.foundations",)),
    Phase("sequence", "Sequence models: RNN, LSTM, GRU", "docs/sequence-models.md",
          ("lmforge.models.recurrent_lm", "lmforge.models.seq2seq")),
    Phase("transformers", "Attention and Transformers", "docs/models.md",
          ("lmforge.models.blocks", "lmforge.models.gpt", "lmforge.viz")),
    Phase("pretrained", "Pretrained LMs: BERT, GPT, T5", "docs/pretraining-objectives.md",
          ("lmforge.objectives", "lmforge.models.bert", "lmforge.recipes.pretrain")),
    Phase("finetuning", "Fine-tuning: task heads and instruction tuning", "docs/finetuning-tasks.md",
          ("lmforge.tasks", "lmforge.train")),
    Phase("peft", "PEFT and preference tuning: LoRA, DPO", "docs/finetuning.md",
          ("lmforge.peft", "lmforge.objectives.dpo")),
    Phase("compression", "Compression: quantization, pruning, distillation", "docs/labs.md#compression-quantization",
          ("lmforge.compress",)),
    Phase("deployment", "Deployment: batched inference and serving", "docs/serving.md",
          ("lmforge.infer", "lmforge.serve")),
    Phase("retrieval", "Retrieval-augmented generation", "docs/labs.md#retrieval-search", ("lmforge.rag",)),
    Phase("evaluation", "Evaluation: perplexity, BLEU, ROUGE, multiple choice", "docs/labs.md#evaluation-perplexity",
          ("lmforge.evaluate",)),
    Phase("prompting", "Prompting: zero-shot, few-shot, chain-of-thought",
          "docs/labs-prompting-interpretability-ethics.md", ("lmforge.infer.chat",)),
    Phase("interpretability-ethics", "Interpretability and ethics: attributions, logit lens, bias probes",
          "docs/labs-prompting-interpretability-ethics.md", ("lmforge.interpret",)),
)
PHASE_KEYS: tuple[str, ...] = tuple(p.key for p in PHASES)
SMOKE_BUDGET_MINUTES = 0.1  # a smoke run checks that a lab runs, not what it measures
MAX_DEFAULT_MINUTES = 10.0  # on a 2-core CPU
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
_NOT_LABS = {"registry", "notebook"}  # modules of this package that hold no labs
# Where one phase's labs live in several modules, the order a learner reads those modules (the phase title's
# order); other modules follow in import order. Within a module, labs keep the order they are defined in.
MODULE_ORDER = ("interpretability", "ethics")


@dataclass(frozen=True)
class Reference:
    """The figure a lab compares with, and where it was published (book chapter, paper, docs)."""

    figure: str
    source: str


@dataclass
class LabResult:
    """What a lab measured: one headline line, numbers for result.json, the reference and the files written."""

    headline: str
    metrics: dict[str, float]
    reference: Reference
    artifacts: list[Path] = field(default_factory=list)
    notes: str = ""


@dataclass
class LabContext:
    """What a lab may use: its output folder, its time budget, smoke mode, the seed and a console (stderr)."""

    out_dir: Path
    budget_minutes: float
    smoke: bool = False
    seed: int = 0
    console: Console = field(default_factory=lambda: Console(stderr=True))
    started: float = field(default_factory=time.monotonic)

    def deadline(self) -> float:
        """The ``time.monotonic()`` value by which training loops should stop to stay within the budget."""
        return self.started + 60.0 * self.budget_minutes


@dataclass(frozen=True)
class Lab:
    """A registered lab: its metadata and the function that runs it."""

    id: str
    phase: str
    title: str
    teaches: tuple[str, ...]
    docs: str
    minutes: float
    fn: Callable[[LabContext], LabResult]

    @property
    def source(self) -> str:
        """The lab function's source, for reading next to its result (the notebook shows it)."""
        return inspect.getsource(self.fn)


_LABS: dict[str, Lab] = {}


def lab(
    *, id: str, phase: str, title: str, teaches: tuple[str, ...], docs: str, minutes: float
) -> Callable[[Callable[[LabContext], LabResult]], Callable[[LabContext], LabResult]]:
    """Register the decorated function as lab ``id`` of ``phase``; ``minutes`` is its default budget."""

    def register(fn: Callable[[LabContext], LabResult]) -> Callable[[LabContext], LabResult]:
        where = f"{fn.__module__}.{fn.__qualname__}"
        if not _ID.match(id):
            raise ConfigError(f"{where}: lab id {id!r} must be lowercase words joined by dashes ('<phase>-<topic>')")
        if phase not in PHASE_KEYS:
            raise ConfigError(f"{where}: phase {phase!r} is not one of {', '.join(PHASE_KEYS)}")
        if not 0 < minutes <= MAX_DEFAULT_MINUTES:
            raise ConfigError(f"{where}: minutes={minutes} must be in (0, {MAX_DEFAULT_MINUTES:g}]")
        old = _LABS.get(id)
        if old is not None and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__, fn.__qualname__):
            raise ConfigError(f"{where}: lab id {id!r} is already registered by {old.fn.__module__}")
        _LABS[id] = Lab(id, phase, title, tuple(teaches), docs, float(minutes), fn)
        return fn

    return register


def discover() -> dict[str, Lab]:
    """Import every lab module of this package (once) and return the labs in the order a learner walks them:
    by phase, then as defined in their module (not alphabetically: autograd comes before autoencoder)."""
    package = importlib.import_module(__package__ or "lmforge.labs")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _NOT_LABS and not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    registered = list(_LABS)  # import order, and definition order within a module

    def walk(lb: Lab) -> tuple[int, int, int]:
        module = lb.fn.__module__.rsplit(".", 1)[-1]
        rank = MODULE_ORDER.index(module) if module in MODULE_ORDER else len(MODULE_ORDER)
        return PHASE_KEYS.index(lb.phase), rank, registered.index(lb.id)

    return {lb.id: lb for lb in sorted(_LABS.values(), key=walk)}


def labs_by_phase() -> dict[str, list[Lab]]:
    """Phase key -> its labs (an empty list for a phase whose labs are not built yet)."""
    grouped: dict[str, list[Lab]] = {key: [] for key in PHASE_KEYS}
    for lb in discover().values():
        grouped[lb.phase].append(lb)
    return grouped


def get_lab(lab_id: str) -> Lab:
    """The lab ``lab_id``, or a one-line error that suggests the closest ids."""
    labs = discover()
    if lab_id in labs:
        return labs[lab_id]
    close = difflib.get_close_matches(lab_id, list(labs), n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise LmforgeError(f"unknown lab {lab_id!r}: {hint}('lmforge lab --list' lists all {len(labs)} labs)")


def _check_result(lb: Lab, result: object) -> LabResult:
    """A lab's result must be complete: a headline, finite numbers, a cited reference, files that exist."""
    if not isinstance(result, LabResult):
        raise ConfigError(f"lab {lb.id}: returned {type(result).__name__}, expected LabResult")
    if not result.headline.strip() or "\n" in result.headline:
        raise ConfigError(f"lab {lb.id}: the headline must be one non-empty line")
    if not (result.reference.figure.strip() and result.reference.source.strip()):
        raise ConfigError(f"lab {lb.id}: the reference needs both a figure and its source")
    for name, value in result.metrics.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"lab {lb.id}: metric {name!r} is {value!r}, expected a finite number")
    missing = [str(p) for p in result.artifacts if not Path(p).is_file()]
    if missing:
        raise ConfigError(f"lab {lb.id}: artifacts not written: {', '.join(missing)}")
    return result


def run_lab(
    lab_id: str,
    *,
    out_dir: Path | None = None,
    budget_minutes: float | None = None,
    smoke: bool = False,
    seed: int = 0,
    console: Console | None = None,
) -> LabResult:
    """Run one lab, write ``out_dir/result.json`` atomically and print the measured headline beside its reference.

    The default budget is the lab's own ``minutes`` (``SMOKE_BUDGET_MINUTES`` in smoke mode);
    the default folder is ``runs/labs/<id>``.
    """
    SINGLE.check_launch()  # under torchrun N copies would write one folder (and train_lm would start DDP)
    lb = get_lab(lab_id)
    if budget_minutes is not None and budget_minutes <= 0:
        raise LmforgeError(f"--budget-minutes must be positive, got {budget_minutes:g}")
    budget = budget_minutes if budget_minutes is not None else (SMOKE_BUDGET_MINUTES if smoke else lb.minutes)
    out = Path(out_dir) if out_dir is not None else Path("runs/labs") / lb.id
    out.mkdir(parents=True, exist_ok=True)
    console = console or Console(stderr=True)
    mode = ", smoke" if smoke else ""
    console.print(f"[bold]{escape(lb.id)}[/bold]: {escape(lb.title)} (budget {budget:g} min{mode})")
    seed_everything(seed)
    ctx = LabContext(out_dir=out, budget_minutes=budget, smoke=smoke, seed=seed, console=console)
    result = _check_result(lb, lb.fn(ctx))
    seconds = time.monotonic() - ctx.started
    write_json(out / "result.json", {
        "id": lb.id,
        "phase": lb.phase,
        "title": lb.title,
        "headline": result.headline,
        "metrics": result.metrics,
        "reference": {"figure": result.reference.figure, "source": result.reference.source},
        "artifacts": [str(Path(p)) for p in result.artifacts],
        "notes": result.notes,
        "budget_minutes": budget,
        "smoke": smoke,
        "seed": seed,
        "seconds": round(seconds, 2),
    })
    console.print(f"[bold green]measured[/bold green]  {escape(result.headline)}", soft_wrap=True, emoji=False)
    console.print(f"[bold]reference[/bold] {escape(result.reference.figure)} — {escape(result.reference.source)}",
                  soft_wrap=True, emoji=False)
    if result.notes:
        console.print(f"[dim]note: {escape(result.notes)}[/dim]", soft_wrap=True, emoji=False)
    console.print(f"[dim]{seconds:.1f} s; result and artifacts in {escape(str(out))}[/dim]")
    return result


def roadmap_lines() -> list[str]:
    """The roadmap as text: each phase in order with its docs page, the modules it teaches and its labs."""
    grouped = labs_by_phase()
    lines: list[str] = []
    for number, phase in enumerate(PHASES, start=1):
        lines.append(f"{number:2d}. {phase.title}  [{phase.key}]  docs: {phase.docs}")
        lines.append(f"    modules: {', '.join(phase.modules)}")
        if grouped[phase.key]:
            lines.extend(f"    lab {lb.id}: {lb.title} (~{lb.minutes:g} min)" for lb in grouped[phase.key])
        else:
            lines.append("    labs: not built yet (its library code is still being built)")
    return lines


def list_lines() -> list[str]:
    """One line per lab: id, default budget and title, in roadmap order."""
    labs = list(discover().values())
    width = max((len(lb.id) for lb in labs), default=0)
    return [f"{lb.id:{width}s}  {lb.minutes:4g} min  {lb.title}" for lb in labs]
