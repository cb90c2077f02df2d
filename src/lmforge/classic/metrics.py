"""Classification metrics: accuracy, per-class precision / recall / F1, macro-F1, majority baseline.

Accuracy alone misleads on skewed data: on SMS spam (13% spam) predicting "ham"
for everything is 87% accurate and useless. So we always report the majority-class
baseline next to a model, and F1 (harmonic mean of precision and recall) per class
and averaged over classes with equal weight (macro-F1; the baseline scores low there).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class ClassScores:
    precision: float
    recall: float
    f1: float
    support: int  # true examples of the class


@dataclass
class Report:
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassScores]

    def table(self) -> str:
        """A small markdown table: one row per class, then accuracy and macro-F1."""
        rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        rows += [
            f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |"
            for name, s in self.per_class.items()
        ]
        rows.append(f"\naccuracy {self.accuracy:.4f}, macro-F1 {self.macro_f1:.4f}")
        return "\n".join(rows)


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def classification_report(
    y_true: Sequence | np.ndarray, y_pred: Sequence | np.ndarray, labels: Sequence | None = None
) -> Report:
    """Scores of ``y_pred`` against ``y_true``; ``labels`` = the classes to report (default: all seen).

    A class never predicted gets precision 0 (scikit-learn's ``zero_division=0``).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    classes = list(labels) if labels is not None else sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    per_class = {}
    for c in classes:
        tp = int(np.sum((y_pred == c) & (y_true == c)))
        predicted, actual = int(np.sum(y_pred == c)), int(np.sum(y_true == c))
        p, r = _safe_div(tp, predicted), _safe_div(tp, actual)
        per_class[str(c)] = ClassScores(p, r, _safe_div(2 * p * r, p + r), actual)
    return Report(
        accuracy=float(np.mean(y_true == y_pred)) if len(y_true) else 0.0,
        macro_f1=float(np.mean([s.f1 for s in per_class.values()])) if per_class else 0.0,
        per_class=per_class,
    )


def majority_class(labels: Sequence | np.ndarray) -> str:
    """The most frequent label (ties: the smallest), the baseline's constant prediction."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return str(values[np.argmax(counts)])
