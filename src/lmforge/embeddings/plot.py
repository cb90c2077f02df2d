"""A 2-D picture of word vectors: PCA projection, saved as PNG.

PCA keeps the two directions along which the chosen words' vectors vary most
(the top right-singular vectors of the centred matrix), so clusters that are far
apart in D dimensions usually stay apart on the page. Distances are only
indicative: most of the variance lives in the other D - 2 directions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from lmforge.embeddings.vectors import WordVectors
from lmforge.errors import DataError
from lmforge.io import pyplot, save_png


def pca_2d(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(N, D) -> (N, 2) coordinates and the fraction of variance they explain."""
    centred = x - x.mean(dim=0, keepdim=True)
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    explained = float((singular[:2] ** 2).sum() / (singular ** 2).sum().clamp(min=1e-12))
    return centred @ vh[:2].T, explained


def plot_words(vectors: WordVectors, words: Sequence[str], path: str | os.PathLike[str], title: str = "") -> float:
    """Scatter ``words`` (each labelled) in their PCA plane; returns the explained variance."""
    missing = [w for w in words if not vectors.has_vector(w)]
    if missing:
        raise DataError(f"no vector for: {', '.join(missing)}")
    if len(words) < 3:
        raise DataError(f"need at least 3 words for a projection, got {len(words)}")
    plt = pyplot()

    points, explained = pca_2d(torch.stack([vectors.vector(w) for w in words]).float())
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.scatter(points[:, 0], points[:, 1], s=14)
    for word, (x, y) in zip(words, points.tolist(), strict=True):
        ax.annotate(word, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=9)
    ax.set_title(f"{title} (PCA, {explained:.0%} of variance)".strip())
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, path)
    return explained
