"""``stylecast gan train|sample`` and ``stylecast encoder train``; torch loads lazily."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from gan.config import DATASETS, ENCODER_PRESETS, PRESETS
from pipeline.core.choices import choice, value
from pipeline.core.cli_support import fails_cleanly, progress_bar
from pipeline.core.device import DEVICE_CHOICES
from pipeline.core.names import champion_uri

DatasetChoice = choice("Dataset", DATASETS)
PresetChoice = choice("Preset", PRESETS)
EncoderPresetChoice = choice("EncoderPreset", ENCODER_PRESETS)
DeviceChoice = choice("Device", DEVICE_CHOICES)
Dataset = Annotated[DatasetChoice, typer.Option(help="fashion-mnist (28x28 grey) or items "
                                                      "(64x64 RGB from the ingested store).")]
Preset = Annotated[PresetChoice, typer.Option(help="baby (seconds, CPU), small (CPU) or full "
                                                    "(GPU).")]
EncoderPreset = Annotated[EncoderPresetChoice, typer.Option(
    help="baby (seconds, CPU), quick (a minute, CPU), small (CPU) or full (GPU).")]


@fails_cleanly
def gan_train(
    dataset: Dataset = DatasetChoice("fashion-mnist"),
    preset: Preset = PresetChoice("small"),
    config: Annotated[Path | None, typer.Option(help="JSON/YAML overriding the preset.")] = None,
    max_kimg: Annotated[float | None, typer.Option(help="Stop after this many thousand "
                                                        "images.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget.")] = None,
    attributes: Annotated[str | None, typer.Option(
        help="items: comma-separated condition attributes (default: the category and the "
             "colour attribute, e.g. articleType,baseColour).")] = None,
    device: Annotated[DeviceChoice | None, typer.Option(
        help="Where to train (default: $STYLECAST_DEVICE, else auto).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue this run (name or folder).")]
    = None,
    run_name: Annotated[str | None, typer.Option(help="Name of a new run's folder.")] = None,
) -> None:
    """Train the conditional GAN; log to MLflow, register stylecast-gan (alias candidate;
    champion-<dataset> when it beats that dataset's champion's FD with no worse diversity
    and consistency).
    Exit 3 when training diverges."""
    from gan.run import train_gan
    from pipeline.core.settings import Settings

    settings = Settings.from_env()
    device_name = value(device) or (settings.device if settings.device != "auto" else None)
    with progress_bar("gan train") as progress:
        summary = train_gan(settings, value(dataset), value(preset), config, resume, run_name,
                            progress, max_kimg=max_kimg, max_minutes=max_minutes, seed=seed,
                            device=device_name,
                            attributes=tuple(attributes.split(",")) if attributes else None)
    typer.echo(json.dumps(summary))


@fails_cleanly
def gan_sample(
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and grid.png.")],
    model: Annotated[str | None, typer.Option(
        help="models:/..., runs:/... or a generator.pt (default: --dataset's champion).")]
    = None,
    dataset: Annotated[DatasetChoice, typer.Option(
        help="Whose champion to sample when no --model is given.")]
    = DatasetChoice("fashion-mnist"),
    condition: Annotated[str, typer.Option(help="e.g. 'articleType=Dresses,baseColour=Red'; "
                                                "attributes left out are unknown.")] = "",
    n: Annotated[int, typer.Option(help="Number of images.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate designs for a condition: PNG files and a grid."""
    from gan.run import sample_command
    from pipeline.core.settings import Settings

    typer.echo(json.dumps(sample_command(Settings.from_env(), model or champion_uri(value(dataset)),
                                         condition, n, out, seed)))


@fails_cleanly
def encoder_train(dataset: Dataset = DatasetChoice("fashion-mnist"),
                  preset: EncoderPreset = EncoderPresetChoice("small")) -> None:
    """Train the catalogue classifier; register it as stylecast-encoder (alias = dataset)."""
    from gan.run import train_encoder_command
    from pipeline.core.settings import Settings

    with progress_bar("encoder train") as progress:
        summary = train_encoder_command(Settings.from_env(), value(dataset), value(preset),
                                        progress)
    typer.echo(json.dumps(summary))
