"""Differentiable augmentation (Zhao et al., 2020) applied to real *and* fake images.

With little data the discriminator memorises the training set; augmenting both sides with
the same random, differentiable transforms stops that without leaking augmentations into
the generator's output (the generator is trained through them).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.core.errors import UnusableInputError


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


class AdaptiveAugment:
    """ADA (Karras et al., 2020): each transform is applied to each image with probability
    ``p``, and ``p`` follows how much the discriminator overfits.

    The overfitting signal is ``r = mean(sign(D(real)))`` over the last ``interval``
    steps: near 1 when the discriminator is sure of every training image (memorising),
    near 0 when it is not. ``p`` rises while ``r`` is above ``target`` and falls while below,
    at a speed that would take it from 0 to 1 in ``speed_kimg`` thousand real images.
    Why adaptive rather than always on: DiffAugment pays off when the discriminator can
    memorise the data (a few thousand catalogue items); on Fashion-MNIST's 60k images
    it only slowed learning (see ``gan.networks``), and one recipe must serve both.
    ``target=None`` applies the policy to every image, the fixed DiffAugment recipe.
    """

    def __init__(self, policy: str, target: float | None = 0.6, speed_kimg: float = 100.0,
                 interval: int = 4) -> None:
        names = [name for name in policy.split(",") if name]
        unknown = sorted(set(names) - set(POLICIES))
        if unknown:
            raise UnusableInputError(f"unknown augmentation(s) {', '.join(unknown)}; "
                                     f"valid: {', '.join(POLICIES)}")
        self.transforms = [POLICIES[name] for name in names]
        self.target, self.speed_kimg, self.interval = target, speed_kimg, interval
        self.p = 1.0 if target is None else 0.0
        self._signs, self._count, self._steps = 0.0, 0, 0
        self._pending: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.p <= 0.0:
            return x
        for transform in self.transforms:
            changed = transform(x)
            if self.p < 1.0:
                chosen = torch.rand(len(x), 1, 1, 1, device=x.device) < self.p
                changed = torch.where(chosen, changed, x)
            x = changed
        return x

    def observe(self, real_scores: torch.Tensor) -> None:
        """Record a step's discriminator scores on real images; adjust ``p`` every interval."""
        if self.target is None or not self.transforms:
            return
        # Kept on the device until the interval ends: no host sync per step.
        self._pending.append(real_scores.detach().sign().sum())
        self._count += len(real_scores)
        self._steps += 1
        if self._steps % self.interval:
            return
        signs, count = torch.stack(self._pending).sum(), self._count
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Every rank must augment with the same p: pool all ranks' evidence.
            torch.distributed.all_reduce(signs)
            count *= torch.distributed.get_world_size()
        overfitting = (self._signs + float(signs)) / count
        step = count / (self.speed_kimg * 1000)
        self.p = min(1.0, max(0.0, self.p + (step if overfitting > self.target else -step)))
        self._signs, self._count, self._pending = 0.0, 0, []

    def state_dict(self) -> dict[str, float | int]:
        pending = float(torch.stack(self._pending).sum()) if self._pending else 0.0
        return {"p": self.p, "signs": self._signs + pending, "count": self._count,
                "steps": self._steps}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.p, self._signs = float(state["p"]), float(state["signs"])
        self._count, self._steps = int(state["count"]), int(state["steps"])
        self._pending = []
