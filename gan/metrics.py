"""Image-quality metrics, registered by name, each returning a dict.

All work in the feature space of the catalogue classifier (``gan.encoder``):
- ``fd``: Frechet distance between Gaussian fits of real and generated features.
- ``kid``: kernel inception distance (unbiased MMD^2, cubic polynomial kernel, subsets).
- ``precision_recall``: k-NN manifold precision and recall (Kynkaanniemi et al., 2019).
- ``class_consistency``: how often the classifier recognises the requested condition in
  generated images, next to its accuracy on real test images.
- ``memorisation``: share of samples closer to a training image than 95% of real test
  images are (so real held-out images score 0.05 by construction).
Report each next to its floor (real test vs real train) and ceiling (untrained generator).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import linalg

from gan.encoder import TrainedEncoder


@dataclass
class Evaluation:
    """What the metrics look at: features of real test, real train and generated images."""

    encoder: TrainedEncoder
    real: torch.Tensor          # features of held-out real images
    train: torch.Tensor         # features of training images (memorisation)
    fake: torch.Tensor          # features of generated images
    fake_images: torch.Tensor   # uint8 generated images (class consistency)
    fake_labels: torch.Tensor   # the conditions they were generated for
    real_accuracy: dict[str, float]


def fd(ev: Evaluation) -> dict[str, float]:
    a, b = ev.real.double().numpy(), ev.fake.double().numpy()
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b)
    trace = np.trace(cov_a + cov_b - 2 * np.real(root))
    return {"fd": float(((mu_a - mu_b) ** 2).sum() + trace)}


def kid(ev: Evaluation, subsets: int = 20, subset_size: int = 500) -> dict[str, float]:
    a, b = ev.real.double(), ev.fake.double()
    size = min(subset_size, len(a), len(b))
    generator = torch.Generator().manual_seed(0)
    d = a.shape[1]
    estimates = []
    for _ in range(subsets):
        x = a[torch.randperm(len(a), generator=generator)[:size]]
        y = b[torch.randperm(len(b), generator=generator)[:size]]
        kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
        off = 1 - torch.eye(size, dtype=torch.float64)
        estimates.append(float((kxx * off).sum() / (size * (size - 1))
                               + (kyy * off).sum() / (size * (size - 1)) - 2 * kxy.mean()))
    return {"kid": float(np.mean(estimates)), "kid_std": float(np.std(estimates))}


def _radii(features: torch.Tensor, k: int) -> torch.Tensor:
    distances = torch.cdist(features, features)
    return distances.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def _covered(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    return (torch.cdist(points, centres) <= radii[None, :]).any(dim=1)


def precision_recall(ev: Evaluation, k: int = 3) -> dict[str, float]:
    real, fake = ev.real.float(), ev.fake.float()
    precision = _covered(fake, real, _radii(real, k)).float().mean()
    recall = _covered(real, fake, _radii(fake, k)).float().mean()
    return {"precision": float(precision), "recall": float(recall)}


def class_consistency(ev: Evaluation) -> dict[str, float]:
    predicted = ev.encoder.predict(ev.fake_images)
    out = {}
    for i, name in enumerate(ev.encoder.vocabulary.names):
        asked = ev.fake_labels[:, i] > 0
        if asked.any():
            hit = float((predicted[asked, i] == ev.fake_labels[asked, i]).float().mean())
            real = ev.real_accuracy.get(name, float("nan"))
            out[f"class_consistency_{name}"] = hit
            out[f"class_consistency_{name}_vs_real"] = hit / real if real else float("nan")
    return out


def memorisation(ev: Evaluation, quantile: float = 0.05) -> dict[str, float]:
    train = ev.train.float()
    real_nn = torch.cdist(ev.real.float(), train).min(dim=1).values
    threshold = torch.quantile(real_nn, quantile)
    fake_nn = torch.cdist(ev.fake.float(), train).min(dim=1).values
    return {"memorisation": float((fake_nn < threshold).float().mean())}


METRICS: dict[str, Callable[[Evaluation], dict[str, float]]] = {
    "fd": fd, "kid": kid, "precision_recall": precision_recall,
    "class_consistency": class_consistency, "memorisation": memorisation}
CHAMPION_METRIC = "fd"   # lower is better; decides the champion


def compute(ev: Evaluation, names: list[str] | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names or list(METRICS):
        out.update(METRICS[name](ev))
    return out
