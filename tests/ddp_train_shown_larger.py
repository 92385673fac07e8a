"""Run by ``test_gan_ddp`` under torchrun: a baby run on Fashion-MNIST brought to 64 px, so
the networks train at 32 px and the generator's display upsampler trains beside them."""

from __future__ import annotations

import sys
from pathlib import Path

from gan.config import build
from gan.data import load
from gan.train import training_loop

if __name__ == "__main__":
    photos = load("fashion-mnist", "train", limit=512).at_resolution(64)
    training_loop(build("fashion-mnist", "baby"), Path(sys.argv[1]), photos)
