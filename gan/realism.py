"""Is a generated image a design a designer would recognise? Two checks, both calibrated
on held-out real photos, so that real items pass and noise, blanks and smudges do not.

1. **Recognised**: for every asked attribute, the metric classifier's probability of the
   asked value is at least what the ``RECOGNISED_QUANTILE`` of held-out real items give
   their own value.
2. **Realistic**: the distance from the image's features to its ``NEIGHBOURS`` nearest
   training items stays within what the ``REALISM_QUANTILE`` of held-out real items show.
   The space is the classifier's penultimate layer concatenated with a coarse
   ``THUMBNAIL`` x ``THUMBNAIL`` colour thumbnail (each part scaled to unit mean norm):
   the classifier was trained on garments only and may map an image unlike any of them
   close to some garment, while no photo has the thumbnail of uniform noise.
The two catch different failures: uniform noise is far from every item; an empty white
frame is near the catalogue's white-on-white items but no value is recognised in it
(``tests/test_gan_judging.py``).

Both thresholds are computed once, with the classifier, on half the held-out split (the
other half is left to measure them) and saved with it (``TrainedEncoder.reference``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gan.data import ImageSet, to_float
from gan.encoder import TrainedEncoder

RECOGNISED_QUANTILE = 0.02
REALISM_QUANTILE = 0.98
NEIGHBOURS = 3
THUMBNAIL = 8
BANK_SIZE = 10_000


def describe(features: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """(N, F) unscaled points of the realism space: the classifier ``features`` of
    ``images`` and their colour thumbnails (``_scaled`` brings both to unit mean norm)."""
    thumbs = [F.adaptive_avg_pool2d(to_float(images[i:i + 1024]), THUMBNAIL).flatten(1)
              for i in range(0, len(images), 1024)]
    return torch.cat([features, torch.cat(thumbs)], dim=1)


def _scaled(raw: torch.Tensor, scale: torch.Tensor, dim: int) -> torch.Tensor:
    return torch.cat([raw[:, :dim] / scale[0], raw[:, dim:] / scale[1]], dim=1)


def points(classifier: TrainedEncoder, images: torch.Tensor) -> torch.Tensor:
    """uint8 images as points of the classifier's realism space (what ``judge`` measures
    distances in; also where the design tools look for an image's nearest items)."""
    ref = classifier.reference
    if not ref:
        raise ValueError("this metric classifier has no realism reference; retrain it")
    return _scaled(describe(classifier.embed(images), images), ref["scale"], int(ref["dim"]))


def _knn_distance(points: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    out = [torch.cdist(points[i:i + 1024], bank).topk(NEIGHBOURS, largest=False).values.mean(1)
           for i in range(0, len(points), 1024)]
    return torch.cat(out) if out else points.new_zeros(0)


def reference(classifier: TrainedEncoder, train: ImageSet, test: ImageSet, seed: int = 0
              ) -> dict[str, torch.Tensor]:
    """The bank of training features and both thresholds, calibrated on ``test[::2]``."""
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:BANK_SIZE]
    raw = describe(classifier.embed(train.images[pick]), train.images[pick])
    dim = classifier.model.heads[0].in_features
    scale = torch.stack([raw[:, :dim].norm(dim=1).mean(), raw[:, dim:].norm(dim=1).mean()])
    bank = _scaled(raw, scale.clamp(min=1e-6), dim)
    calibration = test.subset(slice(0, None, 2))
    features, probabilities = classifier.outputs(calibration.images)
    distance = _knn_distance(_scaled(describe(features, calibration.images), scale, dim), bank)
    floors = []
    for i, p in enumerate(probabilities):
        known = calibration.labels[:, i] > 0
        own = p[known].gather(1, calibration.labels[known, i:i + 1] - 1).squeeze(1)
        floors.append(torch.quantile(own, RECOGNISED_QUANTILE) if len(own) else
                      torch.tensor(0.0))
    return {"bank": bank.half(), "scale": scale, "dim": torch.tensor(dim),
            "realism_threshold": torch.quantile(distance, REALISM_QUANTILE),
            "recognised_floor": torch.stack(floors)}


@dataclass(frozen=True)
class Verdict:
    recognised: torch.Tensor    # (N,) bool: every asked attribute recognised
    realism: torch.Tensor       # (N,) distance to the real manifold
    realistic: torch.Tensor     # (N,) bool
    reasons: list[str]          # '' when the image passes

    @property
    def passed(self) -> torch.Tensor:
        return self.recognised & self.realistic


def judge(classifier: TrainedEncoder, images: torch.Tensor, labels: torch.Tensor) -> Verdict:
    """Check uint8 images generated for ``labels`` (0 = not asked)."""
    ref = classifier.reference
    if not ref:
        raise ValueError("this metric classifier has no realism reference; retrain it")
    dim = int(ref["dim"])
    features, probabilities = classifier.outputs(images)
    realism = _knn_distance(_scaled(describe(features, images), ref["scale"], dim),
                            ref["bank"].float())
    realistic = realism <= ref["realism_threshold"]
    names = classifier.vocabulary.names
    missed = torch.zeros(len(images), len(names), dtype=torch.bool)
    asked_p = torch.zeros(len(images), len(names))
    for i, p in enumerate(probabilities):
        asked = labels[:, i] > 0
        asked_p[:, i] = p.gather(1, (labels[:, i:i + 1] - 1).clamp(min=0)).squeeze(1)
        missed[:, i] = asked & (asked_p[:, i] < ref["recognised_floor"][i])
    reasons = []
    values = [classifier.vocabulary.values(name) for name in names]
    for n in range(len(images)):
        why = [f"not recognisable as {names[i]}={values[i][labels[n, i]]} "
               f"(p {asked_p[n, i]:.2f})" for i in range(len(names)) if missed[n, i]]
        if not realistic[n]:
            why.append(f"unlike any real item (distance {realism[n]:.2f}, real items up to "
                       f"{float(ref['realism_threshold']):.2f})")
        reasons.append("; ".join(why))
    return Verdict(~missed.any(dim=1), realism, realistic, reasons)
