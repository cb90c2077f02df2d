"""Pictures of explanations: tokens highlighted by their attribution (HTML and PNG), and the logit-lens grid.

Scores are signed: green pushes towards the explained class, red away from it, and the colour's
strength is the score divided by the largest |score| in the row, so rows of one method compare
with each other, not across methods (integrated gradients and rollout have different units).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lmforge.errors import ConfigError
from lmforge.interpret.logit_lens import LensCell
from lmforge.io import atomic_write

POSITIVE, NEGATIVE = (0.10, 0.62, 0.25), (0.84, 0.19, 0.15)  # RGB in [0, 1]


@dataclass(frozen=True)
class Highlight:
    """One row to draw: a label (method, text), the tokens and one score per token."""

    label: str
    tokens: Sequence[str]
    scores: Sequence[float]

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.scores):
            raise ConfigError(f"{self.label}: {len(self.tokens)} tokens but {len(self.scores)} scores")

    def strengths(self) -> list[float]:
        """Scores scaled into [-1, 1] by the row's largest magnitude."""
        top = max((abs(s) for s in self.scores), default=0.0) or 1.0
        return [s / top for s in self.scores]


def _rgba(strength: float) -> tuple[float, float, float, float]:
    r, g, b = POSITIVE if strength >= 0 else NEGATIVE
    return r, g, b, min(1.0, abs(strength)) * 0.75


def render_html(rows: Sequence[Highlight], out: str | Path, title: str = "") -> Path:
    """A self-contained HTML page: one paragraph per row, each token on its score's colour."""
    parts = ["<!doctype html><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "span.t{padding:0 1px;border-radius:3px;white-space:pre}p.l{margin:1.2em 0 .2em;color:#555}</style>"]
    if title:
        parts.append(f"<h2>{html.escape(title)}</h2>")
    for row in rows:
        parts.append(f"<p class='l'>{html.escape(row.label)}</p><p>")
        for token, strength, score in zip(row.tokens, row.strengths(), row.scores, strict=True):
            r, g, b, a = _rgba(strength)
            colour = f"rgba({round(255 * r)},{round(255 * g)},{round(255 * b)},{a:.2f})"
            parts.append(f"<span class='t' style='background:{colour}' title='{score:+.4f}'>"
                         f"{html.escape(token)}</span>")
        parts.append("</p>")
    out = Path(out)
    with atomic_write(out, "w") as f:
        f.write("".join(parts) + "\n")
    return out


def render_png(rows: Sequence[Highlight], out: str | Path, title: str = "", width: float = 9.0) -> Path:
    """The same rows as a PNG: tokens laid out left to right, wrapped at ``width`` inches."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    char_w, line_h = 0.085, 0.32  # inches per character and per line at fontsize 10
    lines = []  # (row index or None for a label, [(x, token, strength)])
    for n, row in enumerate(rows):
        lines.append((None, [(0.0, row.label, 0.0)]))
        x, current = 0.0, []
        for token, strength in zip(row.tokens, row.strengths(), strict=True):
            w = char_w * max(1, len(token)) + 0.05
            if current and x + w > width:
                lines.append((n, current))
                x, current = 0.0, []
            current.append((x, token, strength))
            x += w
        lines.append((n, current))
    top = 1 if title else 0  # a line of room for the title
    height = line_h * (len(lines) + 1 + top)
    fig = Figure(figsize=(width + 0.4, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(height, 0)
    ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=11, y=1.0 - 0.12 / height)
    for k, (row, items) in enumerate(lines):
        y = line_h * (k + 1 + top)
        for x, token, strength in items:
            if row is None:
                ax.text(x, y, token, fontsize=9, color="#555555", va="center")
            else:
                ax.text(x, y, _printable(token).replace("$", r"\$"), fontsize=10, family="monospace", va="center",
                        bbox={"facecolor": _rgba(strength), "edgecolor": "none", "pad": 1.5})
    out = Path(out)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=110, bbox_inches="tight")
    return out


def _printable(token: str) -> str:
    """Control characters as escapes (a newline shows as \\n): fonts have no glyph for them."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in token)


def plot_logit_lens(cells: Sequence[Sequence[LensCell]], inputs: Sequence[str], out: str | Path,
                    title: str = "") -> Path:
    """Grid of the lens's top token per layer (rows, embeddings at the bottom) and input position (columns),
    coloured by its probability."""
    from matplotlib.figure import Figure

    n_rows, n_cols = len(cells), len(inputs)
    probs = [[c.probability for c in row] for row in cells]
    fig = Figure(figsize=(1.0 + 0.9 * n_cols, 0.9 + 0.28 * n_rows), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(probs, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", origin="lower")
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            text = _printable(cell.token).replace("$", r"\$")[:8]
            ax.text(c, r, text, ha="center", va="center", fontsize=7,
                    color="white" if cell.probability > 0.6 else "black")
    labels = [_printable(t).replace("$", r"\$") for t in inputs]
    ax.set_xticks(range(n_cols), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n_rows), ["emb"] + [str(i) for i in range(1, n_rows)], fontsize=7)
    ax.set_ylabel("layer (the lens reads the residual stream after it)")
    fig.colorbar(image, ax=ax, label="probability of the top token")
    if title:
        ax.set_title(title, fontsize=10)
    out = Path(out)
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    return out
