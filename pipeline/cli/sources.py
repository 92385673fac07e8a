"""``stylecast sources``: locate real data sets or turn them into manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly


@fails_cleanly
def fashion_mnist_source(
    download: Annotated[bool, typer.Option(
        help="Fetch the official files (sha256-verified) into the user cache if not found.")]
    = False,
) -> None:
    """Locate Fashion-MNIST and report its size."""
    from pipeline.core import fashion_mnist

    data = fashion_mnist.load("all", allow_download=download)
    typer.echo(json.dumps({"dir": str(data.source_dir), "images": len(data.images),
                           "classes": list(data.class_names)}))


def _write_manifest(frame, out: Path, images_root: Path | None = None) -> None:
    from pipeline.core.settings import Settings
    from pipeline.sources.manifest import write_manifest

    root = str(images_root.resolve()) if images_root else None
    typer.echo(json.dumps(write_manifest(frame, str(out), Settings.from_env(), root)))


@fails_cleanly
def product_catalog_source(
    catalog_dir: Annotated[Path, typer.Argument(help="Folder with styles.csv and images/.")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
    licence: Annotated[str | None, typer.Option(
        help="The licence you hold the catalogue under (SPDX id where one fits), on every "
             "row.")] = None,
    uses: Annotated[str | None, typer.Option(
        help="What its rights holder allows: analyse, display, train (comma-separated), on "
             "every row.")] = None,
) -> None:
    """Turn the Fashion Product Images catalogue into a manifest (dated by year + season).

    The catalogue folder is recorded in the home as the manifest's images root, so
    `stylecast ingest OUT` needs no --images-root. The catalogue states no licence: without
    --licence or --uses its items are counted in the trends but neither shown nor trained
    on (the default rights policy).
    """
    from pipeline.sources import product_catalog

    _write_manifest(product_catalog.to_manifest(catalog_dir, licence, uses), out, catalog_dir)


@fails_cleanly
def streetstyle_source(
    observations: Annotated[Path, typer.Argument(help="StreetStyle-27K observations.csv.")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
) -> None:
    """Turn StreetStyle-27K label-only observations into an image-less manifest."""
    from pipeline.sources import streetstyle

    _write_manifest(streetstyle.to_manifest(observations), out)
