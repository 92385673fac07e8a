"""Labelled image catalogues the simulator replays: Fashion-MNIST, or a folder with a manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.core import fashion_mnist
from pipeline.core.errors import UnusableInputError
from pipeline.core.rights import LICENCE_COLUMNS, USES_COLUMN
from pipeline.sources.manifest import read_manifest

FASHION_MNIST_LICENCE = "MIT"


@dataclass(frozen=True)
class LabelledCatalog:
    name: str
    labels: np.ndarray  # str label per image
    _images: np.ndarray | None = None  # in-memory greyscale images (Fashion-MNIST)
    _paths: tuple[Path, ...] = ()
    # The rights each image comes with, carried into the simulated manifest ('' = none).
    licences: np.ndarray | None = None
    uses: np.ndarray | None = None

    def rights(self, index: int) -> dict[str, str]:
        """The manifest's rights columns for one image (none when the catalogue has none)."""
        out = {}
        if self.licences is not None and self.licences[index]:
            out["licence"] = str(self.licences[index])
        if self.uses is not None and self.uses[index]:
            out["uses"] = str(self.uses[index])
        return out

    def image(self, index: int) -> np.ndarray:
        """uint8 array, (H, W) greyscale or (H, W, 3) RGB."""
        if self._images is not None:
            return self._images[index]
        with Image.open(self._paths[index]) as im:
            return np.asarray(im.convert("RGB") if im.mode != "L" else im)

    def pools(self, rng: np.random.Generator) -> dict[str, list[int]]:
        """Shuffled image indices per label, to draw from without replacement."""
        return {str(label): list(rng.permutation(np.flatnonzero(self.labels == label)))
                for label in np.unique(self.labels)}


def fashion_mnist_catalog() -> LabelledCatalog:
    data = fashion_mnist.load("all")
    names = np.array(fashion_mnist.CLASS_NAMES)[data.labels]
    return LabelledCatalog("fashion-mnist", names, _images=data.images,
                           licences=np.full(len(names), FASHION_MNIST_LICENCE))


def folder_catalog(folder: Path, label_column: str) -> LabelledCatalog:
    """``folder/manifest.csv`` (or .parquet) with an ``image`` column relative to ``folder``."""
    manifests = [folder / n for n in ("manifest.csv", "manifest.parquet") if (folder / n).is_file()]
    if not manifests:
        raise UnusableInputError(f"catalogue {folder}: no manifest.csv or manifest.parquet")
    frame, _ = read_manifest(str(manifests[0]))
    for column in ("image", label_column):
        if column not in frame.columns:
            raise UnusableInputError(f"catalogue {manifests[0]}: no {column!r} column")
    frame = frame[(frame["image"] != "") & (frame[label_column] != "")]
    paths = tuple(folder / p for p in frame["image"])
    licence = next((c for c in LICENCE_COLUMNS if c in frame.columns), None)
    return LabelledCatalog(
        folder.name, frame[label_column].to_numpy(dtype=str), _paths=paths,
        licences=frame[licence].to_numpy(dtype=str) if licence else None,
        uses=frame[USES_COLUMN].to_numpy(dtype=str) if USES_COLUMN in frame.columns else None)


def load(catalog: str, label_column: str) -> LabelledCatalog:
    if catalog == "fashion-mnist":
        return fashion_mnist_catalog()
    folder = Path(catalog)
    if not folder.is_dir():
        raise UnusableInputError(f"catalogue {catalog!r}: not 'fashion-mnist' nor a folder")
    return folder_catalog(folder, label_column)
