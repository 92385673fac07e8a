"""The reference the catalogue recipe must beat: a plain conditional GAN of about 70 lines.

DCGAN generator fed the noise and one embedding per condition attribute (articleType and
baseColour), a spectral-norm projection discriminator, hinge loss, Adam(2e-4, betas 0 and
0.9), 32x32 RGB, batch 64, horizontal flips of the real photos. Nothing of StyleCast's
recipe (no EMA, no conditional batch norm, no minibatch-std, no auxiliary head).
Written independently of ``gan/`` so that it cannot inherit its choices.
"""

from __future__ import annotations

import itertools
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

Z_DIM = 128


class ReferenceGenerator(nn.Module):
    def __init__(self, sizes: list[int], width: int = 64) -> None:
        super().__init__()
        self.z_dim = Z_DIM
        self.embeds = nn.ModuleList(nn.Embedding(n, 64) for n in sizes)
        self.project = nn.Linear(Z_DIM + 64 * len(sizes), 4 * 4 * width * 4)
        self.width = width

        def up(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.body = nn.Sequential(nn.BatchNorm2d(width * 4), nn.ReLU(),
                                  *up(width * 4, width * 2), *up(width * 2, width),
                                  *up(width, width), nn.Conv2d(width, 3, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cond = torch.cat([z, *(e(labels[:, i]) for i, e in enumerate(self.embeds))], dim=1)
        return self.body(self.project(cond).view(len(z), self.width * 4, 4, 4))


class ReferenceDiscriminator(nn.Module):
    def __init__(self, sizes: list[int], width: int = 64) -> None:
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(3, widths[0], 3, 1, 1)),
                                   nn.LeakyReLU(0.1)]
        for c_in, c_out in itertools.pairwise(widths):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)), nn.LeakyReLU(0.1)]
        self.features = nn.Sequential(*layers)
        self.score = spectral_norm(nn.Linear(widths[-1], 1))
        self.embeds = nn.ModuleList(spectral_norm(nn.Embedding(n, widths[-1])) for n in sizes)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images).sum(dim=(2, 3))
        projection = sum((e(labels[:, i]) * h).sum(1) for i, e in enumerate(self.embeds))
        return self.score(h).squeeze(1) + projection


def train_reference(images: torch.Tensor, labels: torch.Tensor, sizes: list[int],
                    seconds: float, batch_size: int = 64, seed: int = 0
                    ) -> tuple[ReferenceGenerator, int, float]:
    """Train on uint8 32x32 images for ``seconds``; returns (generator, steps, images/s)."""
    torch.manual_seed(seed)
    g, d = ReferenceGenerator(sizes), ReferenceDiscriminator(sizes)
    opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.0, 0.9))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        pick = torch.randint(len(images), (batch_size,))
        real = images[pick].float().div(127.5).sub(1)
        real = torch.where(torch.rand(batch_size, 1, 1, 1) < 0.5, real.flip(3), real)
        y = labels[pick]
        fake = g(torch.randn(batch_size, Z_DIM), y)
        loss_d = F.relu(1 - d(real, y)).mean() + F.relu(1 + d(fake.detach(), y)).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = -d(fake, y).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        steps += 1
    elapsed = time.perf_counter() - start
    return g.eval(), steps, steps * batch_size / elapsed


class Displayed(nn.Module):
    """The reference generator, upsampled for display like StyleCast's (bilinear)."""

    def __init__(self, generator: ReferenceGenerator, side: int) -> None:
        super().__init__()
        self.generator, self.side, self.z_dim = generator, side, generator.z_dim

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.generator(z, labels)

    def display(self, images: torch.Tensor) -> torch.Tensor:
        return F.interpolate(images, size=self.side, mode="bilinear").clamp(-1, 1)
