"""The Fashion-MNIST loader on the real shared copy."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.core import fashion_mnist
from pipeline.core.errors import UnusableInputError


def test_loads_all_70000_images_with_balanced_labels(fmnist_dir):
    data = fashion_mnist.load("all")
    assert data.source_dir == fmnist_dir
    assert data.images.shape == (70_000, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [7_000] * 10
    assert data.class_names[3] == "Dress"
    assert fashion_mnist.load("test").images.shape[0] == 10_000
    # Garments are bright on a black background.
    assert data.images[:, 0, 0].mean() < 5 and data.images[:, 14, 14].mean() > 60


def test_shared_copy_matches_the_published_checksums(fmnist_dir):
    for name, expected in fashion_mnist.FILES.items():
        assert fashion_mnist.sha256_file(fmnist_dir / name) == expected


def test_lookup_order_prefers_the_environment_variable(fmnist_dir, monkeypatch, tmp_path):
    assert fashion_mnist.candidate_dirs()[0] == fmnist_dir
    assert fashion_mnist.find_dir() == fmnist_dir
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(UnusableInputError, match="dataset-fashion-mnist"):
        fashion_mnist.load()


def test_a_file_that_is_not_idx_is_refused(tmp_path, fmnist_dir):
    import gzip

    for name in fashion_mnist.FILES:
        with gzip.open(tmp_path / name, "wb") as handle:
            handle.write(b"not an idx file at all")
    with pytest.raises(UnusableInputError, match="not an IDX"):
        fashion_mnist.load("train", directory=tmp_path)
