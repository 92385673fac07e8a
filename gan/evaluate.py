"""Score a generator against held-out real images, with the floor and ceiling beside it."""

from __future__ import annotations

import torch
from torch import nn

from gan import metrics
from gan.config import TrainConfig
from gan.data import ImageSet
from gan.encoder import TrainedEncoder
from gan.train import Networks, sample

MAX_TRAIN_FEATURES = 10_000


def _features(encoder: TrainedEncoder, data: ImageSet, n: int, seed: int) -> torch.Tensor:
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return encoder.embed(data.images[pick])


def conditions_like(data: ImageSet, n: int, seed: int) -> torch.Tensor:
    """Conditions drawn from the held-out set's own mix, so the comparison is like for like."""
    pick = torch.randint(len(data), (n,), generator=torch.Generator().manual_seed(seed))
    return data.labels[pick]


def score_generator(generator: nn.Module, z_dim: int, encoder: TrainedEncoder,
                    train: ImageSet, test: ImageSet, n: int, seed: int = 0,
                    device: str = "cpu") -> dict[str, float]:
    labels = conditions_like(test, n, seed)
    z = torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed + 1))
    images = sample(generator.to(device), z, labels, device)
    return _score(encoder, train, test, images, labels, n, seed)


def _train_reference(train: ImageSet, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training images memorisation compares against, the other training images)."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed + 3))
    return order[:MAX_TRAIN_FEATURES], order[MAX_TRAIN_FEATURES:]


def score_real(encoder: TrainedEncoder, train: ImageSet, test: ImageSet, n: int,
               seed: int = 0) -> dict[str, float]:
    """The floor: real training images (outside the memorisation reference) as samples."""
    _, others = _train_reference(train, seed)
    pick = others[:n] if len(others) >= n else torch.arange(min(n, len(train)))
    return _score(encoder, train, test, train.images[pick], train.labels[pick], n, seed)


def score_untrained(cfg: TrainConfig, encoder: TrainedEncoder, train: ImageSet,
                    test: ImageSet, n: int, seed: int = 0) -> dict[str, float]:
    """The ceiling: the same networks, untrained."""
    torch.manual_seed(seed)
    return score_generator(Networks.build(cfg, train).ema, cfg.z_dim, encoder, train, test, n,
                           seed)


def _score(encoder: TrainedEncoder, train: ImageSet, test: ImageSet, images: torch.Tensor,
           labels: torch.Tensor, n: int, seed: int) -> dict[str, float]:
    evaluation = metrics.Evaluation(
        encoder=encoder, real=_features(encoder, test, n, seed),
        train=encoder.embed(train.images[_train_reference(train, seed)[0]]),
        fake=encoder.embed(images), fake_images=images, fake_labels=labels,
        real_accuracy=encoder.test_accuracy)
    return metrics.compute(evaluation)
