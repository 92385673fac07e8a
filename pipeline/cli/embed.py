"""``stylecast embed``: item vectors from the registered encoder, missing or stale ones only."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly, progress_bar
from pipeline.core.errors import UnusableInputError
from pipeline.embed import DEFAULT_BATCH


@fails_cleanly
def embed(
    week: Annotated[list[str] | None, typer.Option(help="ISO week(s) to embed, e.g. 2025-W14 "
                                                        "(repeatable).")] = None,
    all_weeks: Annotated[bool, typer.Option("--all", help="Every week in the store "
                                                          "(the default when no --week).")]
    = False,
    model_version: Annotated[str | None, typer.Option(
        help="Encoder registry version (default: the one aliased 'items').")] = None,
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")]
    = DEFAULT_BATCH,
) -> None:
    """Embed items with the registered stylecast-encoder; only missing or stale vectors are
    computed. Undecodable images are quarantined. Prints one JSON summary line."""
    from pipeline.core.settings import Settings
    from pipeline.embed import run as embed_mod

    if week and all_weeks:
        raise UnusableInputError("give --week or --all, not both")
    settings = Settings.from_env()
    with progress_bar("embed weeks", len(week) if week else None) as progress:
        summary = embed_mod.run(settings, week or None, model_version, batch_size,
                                lambda _: progress.advance())
    typer.echo(summary.to_json())
