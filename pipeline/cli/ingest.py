"""``stylecast ingest``: a manifest in, items by ISO week out."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly, progress_bar
from pipeline.ingest.images import ImageLimits

LIMITS = ImageLimits()  # the defaults the options show


@fails_cleanly
def ingest(
    manifest: Annotated[str, typer.Argument(help="Manifest CSV or Parquet (path or URI).")],
    images_root: Annotated[str | None, typer.Option(
        help="Folder the manifest's image paths are relative to (default: the manifest's)")] = None,
    source: Annotated[str, typer.Option(help="Source for rows that name none.")] = "unknown",
    size: Annotated[int, typer.Option(help="Side of the normalised square images, px.")]
    = LIMITS.size,
    min_side: Annotated[int, typer.Option(help="Smaller images are quarantined.")]
    = LIMITS.min_side,
    max_pixels: Annotated[int, typer.Option(help="Larger images count as bombs.")]
    = LIMITS.max_pixels,
    workers: Annotated[int | None, typer.Option(
        help="Decoding processes (default: cores).")] = None,
) -> None:
    """Validate, normalise and store a manifest's items by ISO week; bad rows go to quarantine.

    Prints one JSON summary line. Exit 0 when the batch ran (even with quarantined rows),
    2 when the manifest as a whole is unusable (nothing is written then).
    """
    from pipeline import ingest as ingest_mod
    from pipeline.core.settings import Settings

    settings = Settings.from_env(workers=workers)
    with progress_bar("ingest") as progress:
        summary = ingest_mod.run(manifest, images_root, settings,
                                 ImageLimits(size, min_side, max_pixels), source, progress)
    typer.echo(summary.to_json())
