"""A generative adversarial network (Goodfellow et al. 2014) on the 8x8 digits.

Two networks play a game: the generator G turns noise z into an image; the discriminator D scores
how real an image looks (a logit). Each step, in turn::

    D step: loss_D = BCE(D(x_real), 1) + BCE(D(G(z)), 0)     D learns to tell real from generated
    G step: loss_G = BCE(D(G(z)), 1)                          G learns to fool D ("non-saturating" loss)

G never sees a real image: everything it learns comes through D's gradient. This is why the GAN has
its own small loop instead of the one Trainer: the Trainer steps one optimizer on one loss over all
parameters, while a GAN needs two optimizers, two losses, and D's parameters frozen out of G's step
(and G's out of D's: hence ``.detach()``). Forcing that into a single loss function would hide the
alternation that *is* the algorithm. Adam with beta1 = 0.5 follows DCGAN (Radford et al. 2016).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lmforge.errors import ConfigError
from lmforge.foundations.data import TensorBatches
from lmforge.models.base import check_positive
from lmforge.seeding import seed_everything


@dataclass
class GANConfig:
    n_pixels: int = 64
    d_noise: int = 16
    d_hidden: int = 128

    def validate(self) -> None:
        check_positive(self, "n_pixels", "d_noise", "d_hidden")


class Generator(nn.Module):
    """Noise (B, d_noise) -> images (B, side, side) with pixels in [0, 1]."""

    def __init__(self, c: GANConfig) -> None:
        super().__init__()
        self.config = c
        self.net = nn.Sequential(nn.Linear(c.d_noise, c.d_hidden), nn.ReLU(), nn.Linear(c.d_hidden, c.d_hidden),
                                 nn.ReLU(), nn.Linear(c.d_hidden, c.n_pixels), nn.Sigmoid())
        self.side = round(c.n_pixels**0.5)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(len(z), self.side, self.side)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images from fresh noise (``generator`` seeds it), outside any graph: for looking and measuring."""
        return self(torch.randn(n, self.config.d_noise, generator=generator))


class Discriminator(nn.Module):
    """Images (B, H, W) -> one logit each (B,): > 0 means "looks real"."""

    def __init__(self, c: GANConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(c.n_pixels, c.d_hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(c.d_hidden, c.d_hidden), nn.LeakyReLU(0.2), nn.Linear(c.d_hidden, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.flatten(1)).squeeze(1)


@dataclass
class GANHistory:
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    steps: int = 0


def train_gan(images: torch.Tensor, config: GANConfig | None = None, steps: int = 2000, batch_size: int = 64,
              lr: float = 2e-3, seed: int = 0, deadline: float | None = None) -> tuple[Generator, GANHistory]:
    """Alternate D and G steps on real images (N, H, W) for ``steps``; after the first step, stop early once
    ``time.monotonic() >= deadline``."""
    config = config or GANConfig(n_pixels=images[0].numel())
    config.validate()
    if images[0].numel() != config.n_pixels:
        raise ConfigError(f"images have {images[0].numel()} pixels, the GAN config says n_pixels={config.n_pixels}")
    seed_everything(seed)
    gen, disc = Generator(config), Discriminator(config)
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    real_batches = TensorBatches(images, batch_size=batch_size, seed=seed)
    history = GANHistory()
    for step in range(steps):
        if step and deadline is not None and time.monotonic() >= deadline:
            break
        (real,) = real_batches.next_batch()
        fake = gen(torch.randn(batch_size, config.d_noise))
        # D step: fake.detach() so this loss does not reach G's weights
        real_logits, fake_logits = disc(real), disc(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        # G step: gradients flow through D into G; only G's optimizer steps (D's grads are cleared next time)
        fooled = disc(fake)
        g_loss = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        history.d_loss.append(d_loss.item())
        history.g_loss.append(g_loss.item())
        history.steps += 1
    return gen.eval(), history


@torch.no_grad()
def pixel_statistics_gap(samples: torch.Tensor, data: torch.Tensor) -> float:
    """How far generated images are from the data in pixel statistics: RMS difference of the per-pixel means
    plus RMS difference of the per-pixel standard deviations (0 when both match)."""
    mean_gap = (samples.mean(0) - data.mean(0)).pow(2).mean().sqrt()
    std_gap = (samples.std(0) - data.std(0)).pow(2).mean().sqrt()
    return float(mean_gap + std_gap)
