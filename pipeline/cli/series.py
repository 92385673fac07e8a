"""``stylecast series``: weekly attribute and style shares of the stored items."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly


@fails_cleanly
def series_command(
    min_share: Annotated[float, typer.Option(help="Drop values whose mean share is lower.")]
    = 0.0,
    out: Annotated[str | None, typer.Option(help="Series file (default: "
                                                 "$STYLECAST_HOME/series/attribute_shares"
                                                 ".parquet).")] = None,
    styles_week: Annotated[str | None, typer.Option(
        help="Measure style series with this week's styles (default: the latest).")] = None,
) -> None:
    """Weekly share of every attribute value over all ingested items (unique_id, ds, y, kind),
    and of every style (style_shares.parquet beside it) once `stylecast styles` has run."""
    from pipeline.core.settings import Settings
    from pipeline.series.run import build
    from pipeline.styles import membership

    settings = Settings.from_env()
    membership.refresh(settings)  # styles stored before their counts were kept get them now
    typer.echo(json.dumps(build(settings, min_share, out, styles_week)))
