"""Design controls: steer a trained generator (vary, recondition, blend, redraw a real item).

A design is one point of the generator's input: a noise vector ``z`` and a condition
*embedding* (``Generator.embed(labels)`` for a plain draw). Working on the embedding rather
than on label indices is what makes "between two styles" and "this real item" expressible;
the labels are kept beside it, the values the design stands for.

- ``vary``: neighbours in noise space, ``z' = cos(a) z + sin(a) e`` with ``a = strength *
  pi/2`` and fresh noise ``e``, so every neighbour is still a draw from N(0, I) (strength 0
  is the design itself, 1 an unrelated one);
- ``recondition``: the same noise under another value of one attribute (recolour, re-cut):
  the condition embedding is a sum of one vector per attribute, so the asked attribute's
  vector is swapped, noise and the other attributes are kept, and what the design has
  beyond its values (an inversion's offset and per-layer residuals, a blend's mix) is kept
  at ``RECONDITION_KEEP``: all of it would hold the old garment against the new value;
- ``blend``: spherical interpolation of the noise, linear of the embedding;
- ``invert``: the input that redraws a given image, by gradient descent on the noise, an
  offset of the condition embedding and a residual of the input each generator layer
  reads ("W+"), against the image's pixels and its likeness in a classifier's early and
  late features, from the noise draw whose drawing already comes nearest the image (the
  best of ``INVERT_CANDIDATES``, scored in one batch before any step: a start as good as
  the best of several optimised random starts, for the price of one). Given a
  ``Recolourable``, each step also recolours the design (another value in turn) and asks
  the classifier to still see its type: an input that redraws the photo well can sit where
  the generator's condition holds weakly, and then its recolours lose the garment.

``truncation`` (BigGAN's truncation trick) redraws noise entries beyond +-t: smaller t,
safer and plainer designs. ``render`` draws each design alone, so a design's pixels never
depend on what else was drawn with it (``stylecast design show`` redraws bit for bit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from gan.data import to_float, to_uint8
from gan.networks import Generator

# Settings chosen on held-out catalogue items apart from those reported
# (benchmarks/gan_inversion_tuning.py, benchmarks/gan_controls.py); the results are in
# benchmarks/results/.
INVERT_STEPS = 120
INVERT_STARTS = 1
INVERT_CANDIDATES = 64
INVERT_LR = 0.1
FEATURE_WEIGHT = 1.0
BLEND_SHARPNESS = 12.0
# Keeps an inversion near what the generator was trained on: the noise's mean square near 1
# (a draw from N(0, I)), and the condition offset and the layers' residuals small next to
# the embeddings themselves (larger ones redraw the photo more closely but recolour it
# worse).
NOISE_PRIOR = 0.05
OFFSET_PRIOR = 0.3
LAYER_PRIOR = 0.3
RECONDITION_KEEP = 0.25
RECOLOURABLE_WEIGHT = 0.01


@dataclass(frozen=True)
class Latent:
    z: torch.Tensor          # (z_dim,) float32
    condition: torch.Tensor  # (z_dim,) float32: the condition embedding
    labels: torch.Tensor     # (n_attributes,) long: the values it stands for, 0 = unknown
    # (input_layers, 2 * z_dim) float32 residuals of each layer's input (inversions only)
    layers: torch.Tensor | None = None


def noise(n: int, dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """(n, dim) standard normal noise from ``seed``; entries beyond +-``truncation`` are
    redrawn until none is (the truncation trick)."""
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, dim, generator=rng)
    if truncation is None:
        return z
    if truncation <= 0:
        raise ValueError("truncation must be positive")
    for _ in range(1000):
        outside = z.abs() > truncation
        if not outside.any():
            break
        z[outside] = torch.randn(int(outside.sum()), generator=rng)
    return z.clamp(-truncation, truncation)


@torch.no_grad()
def embedding(generator: Generator, labels: torch.Tensor) -> torch.Tensor:
    """(n, z_dim) condition embeddings of (n, A) label rows."""
    return generator.embed(labels)


def draw(generator: Generator, labels: torch.Tensor, n: int, seed: int,
         truncation: float | None = None) -> list[Latent]:
    """``n`` fresh designs for one label row (A,)."""
    z = noise(n, generator.z_dim, seed, truncation)
    condition = embedding(generator, labels[None])[0]
    return [Latent(z[i], condition.clone(), labels.clone()) for i in range(n)]


def vary(latent: Latent, n: int, strength: float, seed: int,
         truncation: float | None = None) -> list[Latent]:
    """``n`` neighbours of a design; ``strength`` in [0, 1]."""
    if not 0 <= strength <= 1:
        raise ValueError("strength must be between 0 and 1")
    angle = strength * math.pi / 2
    fresh = noise(n, latent.z.numel(), seed, truncation)
    z = math.cos(angle) * latent.z[None] + math.sin(angle) * fresh
    return [Latent(z[i], latent.condition.clone(), latent.labels.clone(), _copy(latent.layers))
            for i in range(n)]


@torch.no_grad()
def recondition(generator: Generator, latent: Latent, attribute: int, value: int,
                keep: float = RECONDITION_KEEP) -> Latent:
    """The same design with attribute ``attribute`` set to value index ``value``; ``keep``
    of what the design has beyond its values' embedding (1: all of it)."""
    table = generator.embed.tables[attribute].weight
    if not 0 <= value < len(table):
        raise ValueError(f"value index {value} out of range for attribute {attribute}")
    departure = latent.condition - embedding(generator, latent.labels[None])[0]
    labels, condition, layers = _relabelled(generator, latent.labels, attribute, value,
                                            departure, latent.layers, keep)
    return Latent(latent.z.clone(), condition[0], labels, layers)


def _relabelled(generator: Generator, labels: torch.Tensor, attribute: int, value: int,
                departure: torch.Tensor, layers: torch.Tensor | None, keep: float
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The labels with ``attribute`` set to ``value``, and the (n, z_dim) condition and the
    residuals that go with them: the new labels' embedding plus ``keep`` of what the design
    had beyond its own (``departure``: (z_dim,) or (n, z_dim)), ``keep`` of its residuals."""
    relabelled = labels.clone()
    relabelled[attribute] = value
    condition = embedding(generator, relabelled[None]) + keep * departure
    return relabelled, condition, None if layers is None else keep * layers


def _copy(layers: torch.Tensor | None) -> torch.Tensor | None:
    return None if layers is None else layers.clone()


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation (noise lives on a shell; a straight line cuts inside it)."""
    cosine = torch.dot(a, b) / (a.norm() * b.norm()).clamp(min=1e-12)
    omega = torch.arccos(cosine.clamp(-1.0, 1.0))
    if float(omega) < 1e-4:
        return (1 - t) * a + t * b
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def condition_weight(t: float, sharpness: float) -> float:
    """How far along a blend's condition is at ``t``: a logistic curve through 0, 1/2 and 1
    (``sharpness`` 0: a straight line). The noise moves evenly; the condition moves mostly
    near the middle, so each step stays nearer one end's kind of garment than a half-way
    condition, which draws neither, would be."""
    if sharpness <= 0:
        return t
    low, high = (1 / (1 + math.exp(-sharpness * (x - 0.5))) for x in (0.0, 1.0))
    return (1 / (1 + math.exp(-sharpness * (t - 0.5))) - low) / (high - low)


def blend(a: Latent, b: Latent, steps: int, sharpness: float | None = None
          ) -> list[Latent]:
    """``steps`` designs from ``a`` to ``b``, both ends included; each stands for the labels
    of the end it is nearer to. ``sharpness``: see ``condition_weight`` (default
    ``BLEND_SHARPNESS``)."""
    if steps < 2:
        raise ValueError("a blend needs at least 2 steps")
    sharpness = BLEND_SHARPNESS if sharpness is None else sharpness
    out = []
    for i in range(steps):
        t = i / (steps - 1)
        w = condition_weight(t, sharpness)
        layers = (None if a.layers is None and b.layers is None else
                  (1 - w) * _or_zeros(a.layers, b.layers) + w * _or_zeros(b.layers, a.layers))
        out.append(Latent(slerp(a.z, b.z, t), (1 - w) * a.condition + w * b.condition,
                          (a.labels if t < 0.5 else b.labels).clone(), layers))
    return out


def _or_zeros(layers: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if layers is None else layers


@torch.no_grad()
def render(generator: Generator, latents: list[Latent]) -> torch.Tensor:
    """uint8 (n, C, H, W) at the generator's display side, each design drawn alone."""
    was_training = generator.training
    generator.eval()
    images = [to_uint8(generator.display(generator.synthesise(
        latent.z[None], latent.condition[None],
        None if latent.layers is None else latent.layers[None]))) for latent in latents]
    generator.train(was_training)
    return torch.cat(images) if images else torch.zeros(0, dtype=torch.uint8)


@dataclass(frozen=True)
class Recolourable:
    """What ``invert`` keeps recognisable under a recolour: ``classify`` maps float images
    in [-1, 1] at the display side to one logits tensor per attribute (the metric
    classifier); at each step the design is reconditioned to the next of ``values`` of
    attribute ``changed`` and its attribute ``kept`` must still be read as the labels'."""
    classify: Callable[[torch.Tensor], list[torch.Tensor]]
    changed: int
    kept: int
    values: tuple[int, ...]
    weight: float = RECOLOURABLE_WEIGHT


def invert(generator: Generator, target: torch.Tensor, labels: torch.Tensor,
           features: Callable[[torch.Tensor], torch.Tensor], steps: int = INVERT_STEPS,
           starts: int | None = None, seed: int = 0,
           recolourable: Recolourable | None = None, candidates: int | None = None
           ) -> tuple[Latent, float]:
    """The design that redraws ``target`` (uint8 (C, H, W) at the display side) under
    ``labels``, and its final loss (without the recolour term). ``features`` maps float
    images in [-1, 1] to a feature space in which the likeness is also measured (the metric
    classifier's ``Encoder.likeness``). ``starts`` optimised at once, the best of
    ``candidates`` noise draws (defaults: ``INVERT_STARTS``, ``INVERT_CANDIDATES``, read
    when called; ``candidates`` <= ``starts``: the first draws)."""
    starts = INVERT_STARTS if starts is None else starts
    candidates = INVERT_CANDIDATES if candidates is None else candidates
    was_training = generator.training
    generator.eval()
    params = [p.requires_grad for p in generator.parameters()]
    generator.requires_grad_(False)
    try:
        goal = to_float(target[None])
        with torch.no_grad():
            goal_features = features(goal)
            # Optimised at the training side: the display upsampler is left out of every
            # step, and the photo is compared at that side too (``_inversion_loss``).
            goal = F.interpolate(goal, size=generator.resolution, mode="area")
            scale = goal_features.pow(2).mean().clamp(min=1e-6)
            base = generator.embed(labels[None]).repeat(starts, 1)
        goals = _Goal(goal, goal_features, scale, features, base)
        z = _nearest_draws(generator, goals, starts, candidates, seed).requires_grad_(True)
        offset = torch.zeros_like(base, requires_grad=True)
        layers = torch.zeros(starts, generator.input_layers, 2 * generator.z_dim,
                             requires_grad=True)
        optimiser = torch.optim.Adam([z, offset, layers], lr=INVERT_LR)
        others = () if recolourable is None or not recolourable.weight else tuple(
            v for v in recolourable.values if v != int(labels[recolourable.changed]))
        for step in range(steps):
            loss = _inversion_loss(generator, z, offset, layers, goals)
            if others:
                loss = loss + recolourable.weight * _recolour_loss(
                    generator, z, offset, layers, labels, recolourable,
                    others[step % len(others)])
            optimiser.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimiser.step()
        with torch.no_grad():
            final = _inversion_loss(generator, z, offset, layers, goals)
            best = int(final.argmin())
        return (Latent(z[best].detach().clone(), (base + offset)[best].detach().clone(),
                       labels.clone(), layers[best].detach().clone()), float(final[best]))
    finally:
        for p, needed in zip(generator.parameters(), params, strict=True):
            p.requires_grad_(needed)
        generator.train(was_training)


@dataclass(frozen=True)
class _Goal:
    pixels: torch.Tensor      # (1, C, r, r) the photo at the training side
    features: torch.Tensor    # (1, D) its likeness features
    scale: torch.Tensor       # their mean square
    extract: Callable[[torch.Tensor], torch.Tensor]
    base: torch.Tensor        # (starts, z_dim) the labels' condition embedding


@torch.no_grad()
def _nearest_draws(generator: Generator, goal: _Goal, starts: int, candidates: int,
                   seed: int) -> torch.Tensor:
    """(starts, z_dim): of ``candidates`` noise draws, those whose plain drawings (no
    offset, no residuals) score lowest on the inversion's loss."""
    z = noise(max(starts, candidates), generator.z_dim, seed)
    if len(z) == starts:
        return z
    base = goal.base[:1].expand(len(z), -1)
    loss = _inversion_loss(generator, z, torch.zeros_like(base),
                           torch.zeros(len(z), generator.input_layers, 2 * generator.z_dim),
                           replace(goal, base=base))
    return z[loss.argsort()[:starts]].clone()


def _inversion_loss(generator: Generator, z: torch.Tensor, offset: torch.Tensor,
                    layers: torch.Tensor, goal: _Goal) -> torch.Tensor:
    """Per start: pixels (L1) + likeness (MSE over its mean square) + the three priors.
    The drawing stays at the training side; ``features`` sees it at the photo's."""
    drawn = generator.synthesise(z, goal.base + offset, layers)
    pixels = (drawn - goal.pixels).abs().flatten(1).mean(1)
    likeness = ((goal.extract(_at_display_side(generator, drawn)) - goal.features).pow(2)
                .mean(1) / goal.scale)
    noise_prior = (z.pow(2).mean(1) - 1).pow(2)
    size = goal.base.pow(2).mean(1).clamp(min=1e-6)
    offset_prior = offset.pow(2).mean(1) / size
    layer_prior = layers.pow(2).mean((1, 2)) / size
    return (pixels + FEATURE_WEIGHT * likeness + NOISE_PRIOR * noise_prior
            + OFFSET_PRIOR * offset_prior + LAYER_PRIOR * layer_prior)


def _recolour_loss(generator: Generator, z: torch.Tensor, offset: torch.Tensor,
                   layers: torch.Tensor, labels: torch.Tensor, recolourable: Recolourable,
                   value: int) -> torch.Tensor:
    """Per start: the classifier's cross-entropy for the kept attribute on the design
    recoloured to ``value`` as ``recondition`` does it (``RECONDITION_KEEP`` of the offset
    and residuals)."""
    _, condition, kept_layers = _relabelled(generator, labels, recolourable.changed, value,
                                            offset, layers, RECONDITION_KEEP)
    drawn = generator.synthesise(z, condition, kept_layers)
    logits = recolourable.classify(_at_display_side(generator, drawn))[recolourable.kept]
    return F.cross_entropy(logits, labels[recolourable.kept].expand(len(z)), reduction="none")


def _at_display_side(generator: Generator, drawn: torch.Tensor) -> torch.Tensor:
    """A drawing at the training side nearest-upsampled to the display side (a classifier
    that average-pools its input back down reads it exactly as the small drawing)."""
    factor = generator.output_resolution // generator.resolution
    return F.interpolate(drawn, scale_factor=factor, mode="nearest") if factor > 1 else drawn


def pixel_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of uint8 images, in [0, 1] (a, b broadcast)."""
    return F.l1_loss(to_float(a), to_float(b), reduction="none").flatten(1).mean(1) / 2
