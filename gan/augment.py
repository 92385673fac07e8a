"""Differentiable augmentation (Zhao et al., 2020) applied to real *and* fake images.

With little data the discriminator memorises the training set; augmenting both sides with
the same random, differentiable transforms stops that without leaking augmentations into
the generator's output (the generator is trained through them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    shift_h, shift_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-shift_h, shift_h + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-shift_w, shift_w + 1, (n, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device)[None, :, None] + dy).clamp(-1, h)
    cols = (torch.arange(w, device=x.device)[None, None, :] + dx).clamp(-1, w)
    padded = F.pad(x, [1, 1, 1, 1])  # out-of-range reads land on the zero border
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows + 1, cols + 1].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(-(ch // 2), h - ch // 2, (n, 1, 1), device=x.device)
    left = torch.randint(-(cw // 2), w - cw // 2, (n, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def colour(x: torch.Tensor) -> torch.Tensor:
    n = len(x)
    brightness = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5
    x = x + brightness
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    contrast = torch.rand(n, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5
    return (x - mean) * contrast + mean


POLICIES = {"translation": translation, "cutout": cutout, "colour": colour}


def augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    for name in filter(None, policy.split(",")):
        x = POLICIES[name](x)
    return x
