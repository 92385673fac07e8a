"""Training images with their conditions: Fashion-MNIST (28x28 grey) or ingested items (64x64).

Images are kept as uint8 tensors (N, C, H, W) in memory: 60k Fashion-MNIST images are 47 MB,
44k catalogue items at 64x64 RGB 540 MB, and a GAN step then costs no decoding at all.
The held-out split is fixed (Fashion-MNIST's own test set; for items a hash of the content),
so metrics always compare against images the networks never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from gan.conditioning import Vocabulary
from gan.config import DATASETS
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings

MAX_VALUES_PER_ATTRIBUTE = 200
MIN_LABELLED_ITEMS = 100
# The attributes the trend series are most often about, as catalogues spell them.
CATEGORY_ATTRIBUTES = ("category", "articleType", "clothing_category", "type")
COLOUR_ATTRIBUTES = ("colour", "color", "baseColour", "major_color")


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor      # uint8 (N, C, H, W)
    labels: torch.Tensor      # long (N, n_attributes), 0 = unknown
    vocabulary: Vocabulary
    name: str
    left_out: tuple[tuple[str, str], ...] = ()   # attributes not conditioned on, and why
    # Ingested items: each image's item_id, sha256, source and licence, in order (lineage).
    provenance: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: torch.Tensor | slice) -> ImageSet:
        provenance = self.provenance
        if provenance is not None:
            rows = index if isinstance(index, slice) else np.asarray(index)
            provenance = provenance.iloc[rows].reset_index(drop=True)
        return ImageSet(self.images[index], self.labels[index], self.vocabulary, self.name,
                        self.left_out, provenance)

    def at_resolution(self, side: int, batch_size: int = 4096) -> ImageSet:
        """The same images area-resampled to ``side`` x ``side`` (still uint8)."""
        if side == self.resolution:
            return self
        resized = [to_uint8(F.interpolate(to_float(self.images[i:i + batch_size]), size=side,
                                          mode="area" if side < self.resolution else "bilinear"))
                   for i in range(0, len(self), batch_size)]
        return ImageSet(torch.cat(resized), self.labels, self.vocabulary, self.name,
                        self.left_out, self.provenance)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float [-1, 1], the generator's tanh range."""
    return images.float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    return images.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


def load(dataset: str, split: str, settings: Settings | None = None,
         attributes: list[str] | None = None, limit: int | None = None,
         vocabulary: Vocabulary | None = None) -> ImageSet:
    """``split`` is ``train`` or ``test`` (held out); pass the training ``vocabulary`` when
    loading the test split so both encode conditions alike."""
    if dataset == "fashion-mnist":
        data = _fashion_mnist(split)
    elif dataset == "items":
        data = _items(split, settings or Settings.from_env(), attributes, vocabulary)
    else:
        raise UnusableInputError(f"unknown dataset {dataset!r}; one of {', '.join(DATASETS)}")
    if len(data) == 0:
        raise UnusableInputError(f"dataset {dataset} ({split}) has no images")
    return data.subset(slice(0, limit)) if limit else data


def _fashion_mnist(split: str) -> ImageSet:
    from pipeline.core import fashion_mnist

    data = fashion_mnist.load(split)
    names = fashion_mnist.CLASS_NAMES
    vocabulary = Vocabulary.from_values({"category": names})
    index = {name: i for i, name in enumerate(vocabulary.values("category"))}
    labels = torch.tensor([index[names[c]] for c in data.labels], dtype=torch.long)[:, None]
    images = torch.from_numpy(data.images.copy())[:, None]
    return ImageSet(images, labels, vocabulary, "fashion-mnist")


def _items(split: str, settings: Settings, attributes: list[str] | None,
           vocabulary: Vocabulary | None) -> ImageSet:
    from pipeline.core import catalog, png

    table = catalog.scan_items(settings, "train",
                               columns=["item_id", "sha256", "image_png", "attributes"])
    if table is None:
        raise UnusableInputError(f"no items under {catalog.ITEMS.root(settings)}: run "
                                 "stylecast ingest first")
    frame = table.to_pandas()
    frame = frame[frame["image_png"].notna()]
    if frame.empty:
        raise UnusableInputError(
            "no stored image may be trained on (label-only items have none; an image needs a "
            "licence or declared uses the rights policy lets be trained on: see `stylecast "
            "rights show`)")
    held_out = frame["sha256"].str[:2].apply(int, base=16) < 26   # ~10%, fixed by content
    frame = frame[held_out if split == "test" else ~held_out]
    rows = [dict(pairs) for pairs in frame["attributes"]]
    left_out: dict[str, str] = {}
    if vocabulary is None:
        vocabulary, left_out = _vocabulary(rows, attributes)
    images = (np.stack([png.decode(data) for data in frame["image_png"]]) if len(frame)
              else np.zeros((0, 64, 64, 3)))
    tensor = torch.from_numpy(images.astype(np.uint8)).permute(0, 3, 1, 2).contiguous()
    provenance = frame[["item_id", "sha256", "source", "licence"]].reset_index(drop=True)
    return ImageSet(tensor, vocabulary.encode(rows), vocabulary, "items",
                    tuple(left_out.items()), provenance)


def _vocabulary(rows: list[dict[str, str]], attributes: list[str] | None
                ) -> tuple[Vocabulary, dict[str, str]]:
    """The condition attributes and the reasons any were left out.

    Asked-for attributes must exist; any with fewer than ``MIN_LABELLED_ITEMS`` labelled
    items (or one value only) is left out, with the reason. By default: the category
    attribute and the colour attribute (the first of ``CATEGORY_ATTRIBUTES`` and of
    ``COLOUR_ATTRIBUTES`` the items carry), which the trend series are about; failing both,
    the best-covered attribute of sane cardinality.
    """
    values: dict[str, set[str]] = {}
    coverage: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            if value:
                values.setdefault(name, set()).add(value)
                coverage[name] = coverage.get(name, 0) + 1
    if attributes:
        missing = [a for a in attributes if a not in values]
        if missing:
            raise UnusableInputError(f"items have no attribute(s) {', '.join(missing)}; "
                                     f"found: {', '.join(sorted(values)) or 'none'}")
        candidates = list(attributes)
    else:
        candidates = [next(a for a in role if a in values)
                      for role in (CATEGORY_ATTRIBUTES, COLOUR_ATTRIBUTES)
                      if any(a in values for a in role)]
    left_out = {a: _unlearnable(a, coverage[a], len(values[a])) for a in candidates}
    chosen = [a for a in candidates if not left_out[a]]
    if not chosen and not attributes:
        usable = [a for a in values if 2 <= len(values[a]) <= MAX_VALUES_PER_ATTRIBUTE
                  and coverage[a] >= max(MIN_LABELLED_ITEMS, 0.5 * len(rows))]
        chosen = sorted(usable, key=lambda a: -coverage[a])[:1]
    if not chosen:
        reasons = "; ".join(f"{a}: {why}" for a, why in left_out.items() if why)
        raise UnusableInputError("items carry no attribute usable as a condition"
                                 + (f" ({reasons})" if reasons else
                                    f" (2-{MAX_VALUES_PER_ATTRIBUTE} values, at least "
                                    f"{MIN_LABELLED_ITEMS} labelled items)"))
    vocabulary = Vocabulary.from_values({a: values[a] for a in chosen})
    return vocabulary, {a: why for a, why in left_out.items() if why}


def _unlearnable(name: str, labelled: int, distinct: int) -> str:
    """Why an attribute cannot be a condition ('' when it can)."""
    if labelled < MIN_LABELLED_ITEMS:
        return f"only {labelled} labelled items (a condition needs {MIN_LABELLED_ITEMS})"
    if distinct < 2:
        return "a single value"
    if distinct > MAX_VALUES_PER_ATTRIBUTE:
        return f"{distinct} values (at most {MAX_VALUES_PER_ATTRIBUTE})"
    return ""
