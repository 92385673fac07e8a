"""One frozen training configuration, built from a preset plus overrides, saved as JSON.

Presets: ``baby`` trains a few steps on CPU in seconds (tests), ``small`` is a laptop/CPU
run, ``full`` a GPU run. ``--config FILE`` (JSON or YAML) and command-line options override
the preset; the resolved config is written into the run folder and logged to MLflow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from pipeline.core.errors import UnusableInputError

DATASETS = ("fashion-mnist", "items")
ENCODER_PRESETS = ("baby", "quick", "small", "full")   # gan.encoder.PRESETS, less "metric"
PRESETS: dict[str, dict[str, object]] = {
    "baby": {"z_dim": 16, "g_width": 8, "d_width": 8, "batch_size": 16, "max_kimg": 0.128,
             "tick_kimg": 0.032, "limit_images": 512, "metric_samples": 256},
    # Short CPU budgets learn faster at three times the usual 2e-4 (benchmarks/results/gan.md);
    # the auxiliary heads' weight is the catalogue's (benchmarks/results/gan_catalog_recipe.md).
    "small": {"z_dim": 64, "g_width": 32, "d_width": 32, "batch_size": 64, "max_kimg": 300.0,
              "tick_kimg": 6.4, "lr_g": 6e-4, "lr_d": 6e-4, "classifier_weight": 0.25},
    "full": {"z_dim": 128, "g_width": 64, "d_width": 64, "batch_size": 128,
             "max_kimg": 5000.0, "tick_kimg": 25.6, "metric_samples": 10_000,
             "classifier_weight": 0.25},
}


# Fashion-MNIST's shoes and bags all face one way: mirrored, they are images its test set
# never shows, and its FD got worse with them. Its one condition, the category, holds
# without the auxiliary heads, which cost it FD (both in benchmarks/results/gan.md).
DATASET_DEFAULTS: dict[str, dict[str, object]] = {
    "fashion-mnist": {"flip": False, "classifier_weight": 0.0}}

# Fewer training images than this and a preset's discriminator memorises them before the
# generator learns anything; the run is refused before it starts.
MIN_IMAGES = {"baby": 16, "small": 2000, "full": 10_000}


def check_size(preset: str, images: int) -> None:
    """A one-line error when ``images`` is too small a catalogue for ``preset``."""
    needed = MIN_IMAGES.get(preset, 0)
    if images < needed:
        smaller = [p for p, n in MIN_IMAGES.items() if n <= images]
        hint = f"; use --preset {smaller[-1]} or ingest more items" if smaller else ""
        raise UnusableInputError(f"{images} training images are too few for preset {preset} "
                                 f"(it needs at least {needed}){hint}")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "fashion-mnist"
    preset: str = "small"
    attributes: tuple[str, ...] = ()     # items: condition attributes (default: chosen)
    resolution: int | None = None        # training side (None: per device, see resolution_for)
    z_dim: int = 64
    g_width: int = 32
    d_width: int = 32
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.99
    ema_decay: float = 0.999
    augment: str = "translation,cutout"
    augment_target: float | None = 0.6   # adaptive (ADA) target; None = always augment
    augment_speed_kimg: float = 100.0    # ADA: images (k) for p to go from 0 to 1
    condition_dropout: float = 0.1
    flip: bool = True                    # mirror real images left-right (garments are symmetric)
    classifier_weight: float = 0.0       # auxiliary-classifier loss on both networks (0 = off)
    upsampler_batch: int = 16            # real photos per step for the learned display
                                         # upsampler (0 = bilinear display)
    lr_upsampler: float = 1e-3
    minibatch_std: bool = True           # discriminator sees batch variety (see networks)
    mode_seeking: float = 0.1            # weight of the MSGAN diversity term (0 = off)
    max_kimg: float = 300.0
    max_minutes: float | None = None     # wall-clock budget; stops at a tick boundary
    tick_kimg: float = 6.4
    seed: int = 0
    device: str = "auto"
    amp: bool = True                     # bf16 autocast on CUDA (ignored on CPU)
    channels_last: bool = True           # NHWC: faster convolutions on CPU and CUDA
    compile: bool = False                # torch.compile the networks (CUDA)
    limit_images: int | None = None
    metric_samples: int = 2000
    divergence_loss: float = 1e3         # |loss| above this (or NaN) stops training

    def resolution_for(self, native: int, device_type: str) -> int:
        """The side the networks train at: as configured, else the images' own up to 32 px,
        and above that 32 px on CPU (4x fewer pixels than 64) or native on CUDA."""
        if self.resolution is not None:
            return self.resolution
        return native if native <= 32 or device_type == "cuda" else 32

    @property
    def max_steps(self) -> int:
        return max(1, math.ceil(self.max_kimg * 1000 / self.batch_size))

    @property
    def tick_steps(self) -> int:
        return max(1, math.ceil(self.tick_kimg * 1000 / self.batch_size))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        values = json.loads(text)
        values["attributes"] = tuple(values.get("attributes", ()))
        return cls(**values)


def build(dataset: str, preset: str, config_file: Path | None = None,
          **overrides: object) -> TrainConfig:
    if preset not in PRESETS:
        raise UnusableInputError(f"unknown preset {preset!r}; one of {', '.join(PRESETS)}")
    values: dict[str, object] = {"dataset": dataset, "preset": preset, **PRESETS[preset],
                                 **DATASET_DEFAULTS.get(dataset, {})}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise UnusableInputError(f"config {config_file}: {err}") from None
        if not isinstance(loaded, dict):
            raise UnusableInputError(f"config {config_file}: expected a mapping")
        values.update(loaded)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UnusableInputError(f"unknown config key(s) {', '.join(unknown)}")
    if "attributes" in values:
        values["attributes"] = tuple(values["attributes"])  # type: ignore[arg-type]
    return TrainConfig(**values)  # type: ignore[arg-type]
