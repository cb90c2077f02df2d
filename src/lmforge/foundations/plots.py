"""PNG figures for the foundations pieces: sample grids of images (saved by :func:`lmforge.io.save_png`)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from lmforge.io import pyplot, save_png


def image_grid(images: torch.Tensor, path: str | Path, title: str = "", columns: int = 8) -> None:
    """Images (N, H, W) with values in [0, 1] drawn as a grey grid, ``columns`` per row."""
    plt = pyplot()
    rows = math.ceil(len(images) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 0.9, rows * 0.9 + (0.4 if title else 0)))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].detach().cpu().numpy(), cmap="gray_r", vmin=0.0, vmax=1.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    save_png(fig, path)
