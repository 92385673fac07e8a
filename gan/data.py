"""Training images with their conditions: Fashion-MNIST (28x28 grey) or ingested items (64x64).

Images are kept as uint8 tensors (N, C, H, W) in memory: 60k Fashion-MNIST images are 47 MB,
44k catalogue items at 64x64 RGB 540 MB, and a GAN step then costs no decoding at all.
The held-out split is fixed (Fashion-MNIST's own test set; for items a hash of the content),
so metrics always compare against images the networks never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan.conditioning import Vocabulary
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings

DATASETS = ("fashion-mnist", "items")
MAX_VALUES_PER_ATTRIBUTE = 200


@dataclass(frozen=True)
class ImageSet:
    images: torch.Tensor      # uint8 (N, C, H, W)
    labels: torch.Tensor      # long (N, n_attributes), 0 = unknown
    vocabulary: Vocabulary
    name: str

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: torch.Tensor | slice) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index], self.vocabulary, self.name)


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
    from pipeline.core import layout, png, storage

    table = storage.read_table(settings.path(layout.ITEMS),
                               columns=["sha256", "image_png", "attributes"])
    if table is None or table.num_rows == 0:
        raise UnusableInputError(f"no items under {settings.path(layout.ITEMS)}: run stylecast "
                                 "ingest first")
    frame = table.to_pandas()
    frame = frame[frame["image_png"].notna()]
    held_out = frame["sha256"].str[:2].apply(int, base=16) < 26   # ~10%, fixed by content
    frame = frame[held_out if split == "test" else ~held_out]
    rows = [dict(pairs) for pairs in frame["attributes"]]
    vocabulary = vocabulary or _vocabulary(rows, attributes)
    images = (np.stack([png.decode(data) for data in frame["image_png"]]) if len(frame)
              else np.zeros((0, 64, 64, 3)))
    tensor = torch.from_numpy(images.astype(np.uint8)).permute(0, 3, 1, 2).contiguous()
    return ImageSet(tensor, vocabulary.encode(rows), vocabulary, "items")


def _vocabulary(rows: list[dict[str, str]], attributes: list[str] | None) -> Vocabulary:
    """The requested attributes, or the (up to four) best-covered ones with sane cardinality."""
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
        chosen = attributes
    else:
        usable = [a for a in values if 2 <= len(values[a]) <= MAX_VALUES_PER_ATTRIBUTE
                  and coverage[a] >= 0.5 * len(rows)]
        chosen = sorted(usable, key=lambda a: -coverage[a])[:4]
        if not chosen:
            raise UnusableInputError("items carry no attribute usable as a condition "
                                     "(2-200 values, on at least half the items)")
    return Vocabulary.from_values({a: values[a] for a in chosen})
