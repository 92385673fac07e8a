"""Image-quality metrics, registered by name, each returning a dict.

All work in the feature space of the catalogue classifier (``gan.encoder``):
- ``fd``: Frechet distance between Gaussian fits of real and generated features.
- ``kid``: kernel inception distance (unbiased MMD^2, cubic polynomial kernel, subsets).
- ``precision_recall``: k-NN manifold precision and recall (Kynkaanniemi et al., 2019).
- ``density_coverage``: their outlier-robust versions (Naeem et al., 2020); see there why.
- ``class_consistency``: how often the classifier recognises the requested condition in
  generated images, next to its accuracy on real test images.
- ``memorisation``: share of samples closer to a training image than 95% of real test
  images are (so real held-out images score 0.05 by construction).
- ``diversity``: per well-populated condition, the mean pairwise feature distance of its
  samples over the same for held-out real items of that condition (about 1 for real
  images, 0 for one image repeated); ``diversity`` is the mean over conditions,
  ``diversity_min`` the worst one. A collapsed generator cannot hide here: pooled metrics
  (FD, recall) average over conditions and can look fine while each one is a near-copy.
- ``conditioning_effect``: the same noise under two conditions that differ in one
  attribute; how often the classifier sees the asked value in *both* images. A generator
  that ignores the condition draws the same image twice and cannot score.
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
class ConditionProbe:
    """Samples drawn for each of K well-populated conditions with the *same* m noises, and
    the held-out real items of each condition (diversity, conditioning effect)."""

    names: list[str]                 # attribute names (columns of the label rows)
    conditions: torch.Tensor         # (K, A) label rows, every attribute known
    fake: torch.Tensor               # (K, m, F) features; sample j of every condition: noise j
    fake_predicted: torch.Tensor     # (K, m, A) the classifier's predicted value indices
    real: list[torch.Tensor]         # K tensors (n_k, F): held-out real items of condition k
    real_predicted: list[torch.Tensor]  # K tensors (n_k, A)


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
    probe: ConditionProbe | None = None


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


def density_coverage(ev: Evaluation, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al., 2020): precision and recall that one outlying
    real item cannot fool. Density counts how many real k-NN balls hold each sample (about
    1 for real images); coverage is the share of real items whose ball holds a sample.
    k-NN precision is kept for comparison, but on the catalogue uniform noise scores full
    precision (every noise image inside the ball of one outlying real photo) while its
    coverage stays near 0 (the noise row of benchmarks/results/gan_catalog.md)."""
    real, fake = ev.real.float(), ev.fake.float()
    radii = _radii(real, k)
    inside = torch.cdist(fake, real) <= radii[None, :]
    return {"density": float(inside.float().sum(dim=1).mean() / k),
            "coverage": float(inside.any(dim=0).float().mean())}


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


def mean_pairwise_distance(features: torch.Tensor) -> float:
    n = len(features)
    if n < 2:
        return float("nan")
    return float(torch.pdist(features.float()).sum() * 2 / (n * (n - 1)))


def per_condition(probe: ConditionProbe) -> list[dict[str, float]]:
    """One row per probed condition: diversity, and per attribute the share of samples the
    classifier sees the asked value in, next to its accuracy on that condition's real items."""
    rows = []
    for k, condition in enumerate(probe.conditions):
        real_spread = mean_pairwise_distance(probe.real[k])
        row = {"diversity": mean_pairwise_distance(probe.fake[k]) / real_spread
               if real_spread > 0 else float("nan"), "real_items": float(len(probe.real[k]))}
        for i, name in enumerate(probe.names):
            row[f"consistency_{name}"] = float(
                (probe.fake_predicted[k, :, i] == condition[i]).float().mean())
            row[f"real_accuracy_{name}"] = float(
                (probe.real_predicted[k][:, i] == condition[i]).float().mean())
        rows.append(row)
    return rows


def diversity(ev: Evaluation) -> dict[str, float]:
    if ev.probe is None:
        return {}
    values = np.array([row["diversity"] for row in per_condition(ev.probe)])
    values = values[np.isfinite(values)]
    if not len(values):
        return {}
    return {"diversity": float(values.mean()), "diversity_min": float(values.min())}


def conditioning_effect(ev: Evaluation) -> dict[str, float]:
    probe = ev.probe
    if probe is None:
        return {}
    out = {}
    for i, name in enumerate(probe.names):
        follows = probe.fake_predicted[:, :, i] == probe.conditions[:, None, i]   # (K, m)
        values = probe.conditions[:, i]
        differ = values[:, None] != values[None, :]                            # (K, K)
        both = follows[:, None, :] & follows[None, :, :]                       # (K, K, m)
        if differ.any():
            out[f"conditioning_effect_{name}"] = float(both[differ].float().mean())
    return out


METRICS: dict[str, Callable[[Evaluation], dict[str, float]]] = {
    "fd": fd, "kid": kid, "precision_recall": precision_recall,
    "density_coverage": density_coverage, "class_consistency": class_consistency,
    "memorisation": memorisation, "diversity": diversity,
    "conditioning_effect": conditioning_effect}
# Bumped whenever a metric's definition changes: scores of another revision are not compared
# (2: features standardised on the real ones, see gan.evaluate.standardiser).
REVISION = "2"
CHAMPION_METRIC = "fd"   # lower is better; decides the champion, with the guards below
# A candidate that beats the champion's FD is still refused when any of these is lower than
# the champion's: FD pools all conditions and can improve while each one collapses.
CHAMPION_GUARDS = ("diversity", "class_consistency")


def compute(ev: Evaluation, names: list[str] | None = None) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in names or list(METRICS):
        out.update(METRICS[name](ev))
    return out
