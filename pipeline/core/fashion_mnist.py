"""Fashion-MNIST (Zalando Research, MIT licence): 70,000 greyscale 28x28 garments, 10 classes.

Looked up, in order: ``$FASHION_MNIST_DIR``; the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``); the user cache; else, only when asked
(``download=True``), the official files, each verified by sha256 before it is kept.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.core import settings
from pipeline.core.errors import UnusableInputError

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
FILES = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL_URLS = (
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)


@dataclass(frozen=True)
class FashionMNIST:
    images: np.ndarray  # uint8 (N, 28, 28), white garment on black
    labels: np.ndarray  # uint8 (N,)
    source_dir: Path

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASS_NAMES


def cache_dir() -> Path:
    return settings.cache_dir() / "fashion-mnist"


def candidate_dirs() -> list[Path]:
    dirs = [Path(os.environ["FASHION_MNIST_DIR"])] if os.environ.get("FASHION_MNIST_DIR") else []
    return [*dirs, DEBIAN_DIR, cache_dir()]


def find_dir() -> Path | None:
    for folder in candidate_dirs():
        if all((folder / name).is_file() for name in FILES):
            return folder
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(target: Path | None = None) -> Path:
    """Fetch the official files into ``target`` (default: the user cache), sha256-verified."""
    target = target or cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name, expected in FILES.items():
        dest = target / name
        if dest.is_file() and sha256_file(dest) == expected:
            continue
        last_error: Exception | None = None
        for base in OFFICIAL_URLS:
            tmp = dest.with_suffix(".part")
            try:
                urllib.request.urlretrieve(base + name, tmp)
            except OSError as err:
                last_error = err
                continue
            if sha256_file(tmp) != expected:
                tmp.unlink(missing_ok=True)
                last_error = ValueError(f"{name} from {base}: sha256 mismatch")
                continue
            tmp.replace(dest)
            break
        else:
            raise UnusableInputError(f"could not download Fashion-MNIST {name}: {last_error}")
    return target


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise UnusableInputError(f"{path}: not an IDX ubyte file (magic {magic:#x})")
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(split: str = "all", directory: Path | None = None, allow_download: bool = False,
         ) -> FashionMNIST:
    """Load ``train``, ``test`` or ``all`` (train then test) as numpy arrays."""
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be train, test or all, not {split!r}")
    folder = directory or find_dir()
    if folder is None:
        if not allow_download:
            searched = ", ".join(str(d) for d in candidate_dirs())
            raise UnusableInputError(
                f"Fashion-MNIST not found (looked in {searched}); install the Debian package "
                "dataset-fashion-mnist, set FASHION_MNIST_DIR, or run "
                "`stylecast sources fashion-mnist --download`"
            )
        folder = download()
    prefixes = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
    images = [_read_idx(folder / f"{p}-images-idx3-ubyte.gz") for p in prefixes]
    labels = [_read_idx(folder / f"{p}-labels-idx1-ubyte.gz") for p in prefixes]
    return FashionMNIST(np.concatenate(images), np.concatenate(labels), folder)
