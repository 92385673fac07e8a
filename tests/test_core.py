"""The core layer's shared facts: the home's layout, content keys, the PNG codec, devices."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from helpers import run_cli

from pipeline.core import catalog, layout, png
from pipeline.core.device import resolve_device
from pipeline.core.settings import Settings


def test_week_partitions_name_and_parse_alike(tmp_path):
    settings = Settings(home=str(tmp_path))
    path = catalog.EMBEDDINGS.path(settings, "2025-W14")
    assert path == f"{tmp_path}/embeddings/week=2025-W14/part-0.parquet"
    assert layout.partition_week(path.removeprefix(settings.home)) == "2025-W14"
    assert layout.partition_week("/items/part-0.parquet") is None


def test_a_content_key_is_the_start_of_the_sha256_of_all_its_chunks():
    assert layout.content_key(b"ab", b"c") == hashlib.sha256(b"abc").hexdigest()[:16]
    assert layout.content_key(b"abc") != layout.content_key(b"abd")


def test_the_png_codec_round_trips_colour_and_grey_pixels():
    rng = np.random.default_rng(0)
    colour = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    grey = rng.integers(0, 256, (8, 6, 1), dtype=np.uint8)
    assert np.array_equal(png.decode(png.encode(colour)), colour)
    assert np.array_equal(png.decode(png.encode(grey), channels=1), grey)
    with pytest.raises(ValueError, match="cannot decode"):
        png.decode(b"not a png")


def test_devices_resolve_and_a_wrong_name_is_refused(monkeypatch):
    import torch

    assert resolve_device("cpu") == "cpu" and resolve_device("cuda") == "cuda"
    for present, expected in ((True, "cuda"), (False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda present=present: present)
        assert resolve_device("auto") == expected, "auto takes the GPU exactly when torch sees one"
    with pytest.raises(ValueError, match="not one of auto, cpu, cuda"):
        resolve_device("tpu")


def test_an_unknown_encoder_preset_is_refused_before_any_work(tmp_path):
    home = tmp_path / "home"
    result = run_cli(["encoder", "train", "--dataset", "items", "--preset", "huge"], home,
                     COLUMNS="200")
    assert result.returncode == 2
    assert "'huge' is not one of 'baby', 'quick', 'small', 'full'" in result.stderr
    assert not home.exists(), "nothing loaded or written"
    assert "quick" in run_cli(["encoder", "train", "--help"], home).stdout
