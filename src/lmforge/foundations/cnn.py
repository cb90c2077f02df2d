"""Convolutional networks: a sentence classifier (Kim 2014) and a small image classifier (digits).

A convolution slides one small set of weights over every position, so a pattern (a phrase such as
"not good", a stroke of a digit) is detected wherever it occurs, with far fewer weights than a dense
layer over the whole input.

Text CNN (Kim 2014, "Convolutional Neural Networks for Sentence Classification")::

    word ids (B, T) -> embeddings (B, E, T) -> for each width k: Conv1d(E, F, k) + ReLU (B, F, T - k + 1)
      -> max over time (B, F) -> concatenate (B, F * n_widths) -> dropout -> linear (B, C)

Each filter is an n-gram detector; max-over-time keeps its strongest match anywhere in the sentence,
so sentences of any length give one fixed-size vector. Windows that start on padding are masked out.

Image CNN (LeNet-style, sized for 8x8 digits)::

    (B, 8, 8) -> Conv2d 3x3 + ReLU (B, c1, 8, 8) -> Conv2d 3x3 + ReLU (B, c2, 8, 8) -> MaxPool 2 (B, c2, 4, 4)
      -> flatten -> dropout -> linear (B, C)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lmforge.errors import ConfigError
from lmforge.models.base import check_dropout, check_positive


@dataclass
class TextCNNConfig:
    vocab_size: int
    n_classes: int
    d_embed: int = 64
    widths: tuple[int, ...] = (3, 4, 5)  # Kim's filter widths
    n_filters: int = 50  # per width (Kim: 100)
    dropout: float = 0.5  # Kim's

    def validate(self) -> None:
        check_positive(self, "vocab_size", "n_classes", "d_embed", "n_filters")
        check_dropout(self)
        if not self.widths or min(self.widths) <= 0:
            raise ConfigError(f"TextCNNConfig.widths must be positive filter widths, got {self.widths}")


class TextCNN(nn.Module):
    family = "text-cnn"
    config_class = TextCNNConfig

    def __init__(self, config: TextCNNConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.emb = nn.Embedding(c.vocab_size, c.d_embed, padding_idx=0)
        self.convs = nn.ModuleList(nn.Conv1d(c.d_embed, c.n_filters, k) for k in c.widths)
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.n_filters * len(c.widths), c.n_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Right-padded word ids (B, T), 0 = padding, T >= the widest filter -> class logits (B, C)."""
        x = self.emb(ids).transpose(1, 2)  # (B, E, T): Conv1d wants channels before positions
        lengths = (ids != 0).sum(dim=1, keepdim=True)  # (B, 1)
        pooled = []
        for conv in self.convs:
            h = torch.relu(conv(x))  # (B, F, T - k + 1)
            starts = torch.arange(h.shape[2], device=ids.device)  # (T - k + 1,)
            on_padding = (starts >= lengths).unsqueeze(1)  # (B, 1, T - k + 1): windows starting after the last word
            pooled.append(h.masked_fill(on_padding, 0.0).amax(dim=2))  # (B, F); ReLU outputs are >= 0 anyway
        return self.head(self.drop(torch.cat(pooled, dim=1)))


@dataclass
class ImageCNNConfig:
    n_classes: int = 10
    image_size: int = 8  # square images, side divisible by 2
    channels: tuple[int, int] = (16, 32)
    dropout: float = 0.25

    def validate(self) -> None:
        check_positive(self, "n_classes", "image_size")
        check_dropout(self)
        if self.image_size % 2 or len(self.channels) != 2 or min(self.channels) <= 0:
            raise ConfigError("ImageCNNConfig needs an even image_size and two positive channel counts")


class ImageCNN(nn.Module):
    family = "image-cnn"
    config_class = ImageCNNConfig

    def __init__(self, config: ImageCNNConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        c1, c2 = c.channels
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(),  # padding 1 keeps the side: 8x8 -> 8x8
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # (B, c2, side/2, side/2): small shifts of a stroke no longer matter
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c2 * (c.image_size // 2) ** 2, c.n_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Greyscale images (B, H, W) -> class logits (B, C)."""
        h = self.features(images.unsqueeze(1))  # (B, c2, H/2, W/2)
        return self.head(self.drop(h.flatten(1)))
