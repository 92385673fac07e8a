"""Score a generator against held-out real images, with the floor and ceiling beside it.

Besides the pooled metrics, a *probe* draws ``PROBE_SAMPLES`` images for each of the
``PROBE_CONDITIONS`` most common fully-labelled conditions of the held-out set, with the
same noises for every condition, for the per-condition diversity and conditioning effect.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from gan import metrics
from gan.config import TrainConfig
from gan.data import ImageSet
from gan.encoder import TrainedEncoder, predictions
from gan.inference import Networks, sample

MAX_TRAIN_FEATURES = 10_000
PROBE_CONDITIONS = 16
PROBE_SAMPLES = 32
PROBE_MIN_REAL = 10       # held-out items a condition needs to be probed
PROBE_MAX_REAL = 256

Draw = Callable[[torch.Tensor, int], torch.Tensor]   # (label row, m) -> m uint8 images

def standardiser(real: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Features centred on the real ones and divided by their root-mean-square spread.

    FD and KID are then in units of the real images' own spread: a classifier trained for
    seconds has features thousands of times smaller (and far from zero) than a converged
    one, and an untrained generator scored an FD of 0.0002 in its raw feature space."""
    centre = real.mean(dim=0)
    spread = float(real.double().var(dim=0).mean().sqrt()) or 1.0
    return lambda features: (features - centre) / spread


def _features(encoder: TrainedEncoder, data: ImageSet, n: int, seed: int) -> torch.Tensor:
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return encoder.embed(data.images[pick])


def conditions_like(data: ImageSet, n: int, seed: int) -> torch.Tensor:
    """Conditions drawn from the held-out set's own mix, so the comparison is like for like."""
    pick = torch.randint(len(data), (n,), generator=torch.Generator().manual_seed(seed))
    return data.labels[pick]


def probe_conditions(test: ImageSet, k: int = PROBE_CONDITIONS,
                     min_real: int = PROBE_MIN_REAL) -> torch.Tensor:
    """The ``k`` most common label rows with every attribute known and at least
    ``min_real`` held-out items, most common first; (0, A) when none qualifies."""
    known = test.labels[(test.labels > 0).all(dim=1)]
    if not len(known):
        return test.labels[:0]
    rows, counts = torch.unique(known, dim=0, return_counts=True)
    order = torch.argsort(counts, descending=True, stable=True)
    return rows[order][counts[order] >= min_real][:k]


def build_probe(encoder: TrainedEncoder, test: ImageSet, draw: Draw,
                conditions: torch.Tensor, m: int = PROBE_SAMPLES) -> metrics.ConditionProbe | None:
    fake, predicted, real, real_predicted, kept = [], [], [], [], []
    for condition in conditions:
        drawn = draw(condition, m)
        if not len(drawn):   # the floor's real draw found no image of it: not probed
            continue
        kept.append(condition)
        features, probabilities = encoder.outputs(drawn)
        fake.append(features)
        predicted.append(predictions(probabilities))
        members = test.images[(test.labels == condition).all(dim=1)][:PROBE_MAX_REAL]
        features, probabilities = encoder.outputs(members)
        real.append(features)
        real_predicted.append(predictions(probabilities))
    if not kept:
        return None
    return metrics.ConditionProbe(test.vocabulary.names, torch.stack(kept), torch.stack(fake),
                                  torch.stack(predicted), real, real_predicted)


def generator_draw(generator: nn.Module, z_dim: int, seed: int, device: str = "cpu") -> Draw:
    """Samples for a condition, with the same ``m`` noises whatever the condition."""
    def draw(condition: torch.Tensor, m: int) -> torch.Tensor:
        z = torch.randn(m, z_dim, generator=torch.Generator().manual_seed(seed + 2))
        return sample(generator, z, condition.repeat(m, 1), device)
    return draw


def real_draw(train: ImageSet, seed: int) -> Draw:
    """Training images of the condition as "samples" (the floor)."""
    rng = torch.Generator().manual_seed(seed + 4)

    def draw(condition: torch.Tensor, m: int) -> torch.Tensor:
        members = torch.nonzero((train.labels == condition).all(dim=1)).squeeze(1)
        if not len(members):
            return train.images[:0]
        return train.images[members[torch.randint(len(members), (m,), generator=rng)]]
    return draw


def score_generator(generator: nn.Module, z_dim: int, encoder: TrainedEncoder,
                    train: ImageSet, test: ImageSet, n: int, seed: int = 0,
                    device: str = "cpu") -> dict[str, float]:
    labels = conditions_like(test, n, seed)
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed + 1))
    generator = generator.to(device)
    images = sample(generator, z, labels, device)
    return score_images(encoder, train, test, images, labels, n, seed,
                        generator_draw(generator, z_dim, seed, device))


def _train_reference(train: ImageSet, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images memorisation compares against, the other training images)."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 3))
    return order[:MAX_TRAIN_FEATURES], order[MAX_TRAIN_FEATURES:]


def score_real(encoder: TrainedEncoder, train: ImageSet, test: ImageSet, n: int,
               seed: int = 0) -> dict[str, float]:
    """The floor: real training images (outside the memorisation reference) as samples."""
    _, others = _train_reference(train, seed)
    pick = others[:n] if len(others) >= n else torch.arange(min(n, len(train)))
    return score_images(encoder, train, test, train.images[pick], train.labels[pick], n, seed,
                        real_draw(train.subset(others) if len(others) else train, seed))


def score_untrained(cfg: TrainConfig, encoder: TrainedEncoder, train: ImageSet,
                    test: ImageSet, n: int, seed: int = 0) -> dict[str, float]:
    """The ceiling: the same networks, untrained."""
    torch.manual_seed(seed)
    return score_generator(Networks.build(cfg, train).ema, cfg.z_dim, encoder, train, test, n,
                           seed)


def score_images(encoder: TrainedEncoder, train: ImageSet, test: ImageSet,
                 images: torch.Tensor, labels: torch.Tensor, n: int, seed: int,
                 draw: Draw | None = None) -> dict[str, float]:
    """Every metric for ``images`` generated for ``labels``; ``draw`` gives the probe."""
    probe = None
    if draw is not None:
        conditions = probe_conditions(test)
        if len(conditions):
            probe = build_probe(encoder, test, draw, conditions)
    real = _features(encoder, test, n, seed)
    standard = standardiser(real)
    evaluation = metrics.Evaluation(
        encoder=encoder, real=standard(real),
        train=standard(encoder.embed(train.images[_train_reference(train, seed)[0]])),
        fake=standard(encoder.embed(images)), fake_images=images, fake_labels=labels,
        real_accuracy=encoder.test_accuracy, probe=probe)
    return metrics.compute(evaluation)
