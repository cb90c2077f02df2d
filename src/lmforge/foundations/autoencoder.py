"""An autoencoder: a network trained to copy its input through a narrow bottleneck.

    image (B, 64) -> encoder: Linear 64->h, ReLU, Linear h->k  -> code (B, k)
                  -> decoder: Linear k->h, ReLU, Linear h->64, sigmoid -> reconstruction (B, 64) in [0, 1]
    loss = mean squared error between reconstruction and image

With k much smaller than 64 the network cannot memorise pixels one by one: it has to find the few
directions along which digits differ (a non-linear cousin of PCA). No labels are used. How good a
code is shows in the held-out error next to the simplest guess, the mean training image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.models.base import check_positive


@dataclass
class AutoencoderConfig:
    n_pixels: int = 64
    d_hidden: int = 64
    d_code: int = 8

    def validate(self) -> None:
        check_positive(self, "n_pixels", "d_hidden", "d_code")


class Autoencoder(nn.Module):
    family = "autoencoder"
    config_class = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig) -> None:
        super().__init__()
        config.validate()
        self.config = c = config
        self.encoder = nn.Sequential(nn.Linear(c.n_pixels, c.d_hidden), nn.ReLU(), nn.Linear(c.d_hidden, c.d_code))
        self.decoder = nn.Sequential(nn.Linear(c.d_code, c.d_hidden), nn.ReLU(), nn.Linear(c.d_hidden, c.n_pixels))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, H, W) -> codes (B, k)."""
        return self.encoder(images.flatten(1))

    def decode(self, codes: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Codes (B, k) -> images of ``shape`` (B, H, W), values in [0, 1]."""
        return torch.sigmoid(self.decoder(codes)).view(shape)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images), images.shape)


def reconstruction_loss(model: nn.Module, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The Trainer's loss: mean squared pixel error of the model's reconstruction of ``batch[0]``."""
    images = batch[0]
    return F.mse_loss(model(images), images)


@torch.no_grad()
def reconstruction_error(model: Autoencoder, images: torch.Tensor) -> float:
    """Mean squared pixel error on images (N, H, W), in eval mode."""
    model.eval()
    return float(F.mse_loss(model(images), images))


def mean_image_error(train: torch.Tensor, test: torch.Tensor) -> float:
    """The baseline: the error of answering every test image with the mean training image."""
    return float(F.mse_loss(train.mean(dim=0).expand_as(test), test))
