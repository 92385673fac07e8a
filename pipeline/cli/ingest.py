"""``stylecast ingest``: a manifest in, items by ISO week out."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly, progress_bar
from pipeline.ingest.fetch import DEFAULT_MAX_BYTES
from pipeline.ingest.images import ImageLimits

LIMITS = ImageLimits()  # the defaults the options show


@fails_cleanly
def ingest(
    manifest: Annotated[str, typer.Argument(help="Manifest CSV or Parquet (path or URI).")],
    images_root: Annotated[str | None, typer.Option(
        help="Folder the manifest's image paths are relative to (default: the one `stylecast "
             "sources` recorded for this manifest, else the manifest's folder).")] = None,
    source: Annotated[str, typer.Option(help="Source for rows that name none.")] = "unknown",
    size: Annotated[int, typer.Option(help="Side of the normalised square images, px.")]
    = LIMITS.size,
    min_side: Annotated[int, typer.Option(help="Smaller images are quarantined.")]
    = LIMITS.min_side,
    max_pixels: Annotated[int, typer.Option(help="Larger images count as bombs.")]
    = LIMITS.max_pixels,
    max_bytes: Annotated[int, typer.Option(
        help="Larger image files are quarantined (file_too_large) without being read.")]
    = DEFAULT_MAX_BYTES,
    allow_remote: Annotated[list[str] | None, typer.Option(
        help="A URI prefix remote images may be read from, e.g. https://cdn.example.com/ "
             "(repeatable; also STYLECAST_ALLOW_REMOTE). Others: remote_not_allowed.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Decoding processes (default: cores).")] = None,
) -> None:
    """Validate, normalise and store a manifest's items by ISO week; bad rows go to quarantine.

    Prints one JSON summary line. Exit 0 when the batch ran (even with quarantined rows),
    2 when the manifest as a whole is unusable (nothing is written then).
    """
    from pipeline import ingest as ingest_mod
    from pipeline.core.settings import Settings

    settings = Settings.from_env(workers=workers,
                                 allow_remote=tuple(allow_remote) if allow_remote else None)
    with progress_bar("ingest") as progress:
        summary = ingest_mod.run(manifest, images_root, settings,
                                 ImageLimits(size, min_side, max_pixels), source, progress,
                                 max_bytes)
    typer.echo(summary.to_json())
