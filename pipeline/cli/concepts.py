"""``stylecast concepts``: designs from the champion GAN, placed among the real styles."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.concepts import DEFAULT_PER_CONDITION
from pipeline.core.cli_support import fails_cleanly
from pipeline.core.errors import UnusableInputError
from pipeline.core.names import CHAMPION_URI


@fails_cleanly
def concepts(
    week: Annotated[str, typer.Option(help="ISO week whose styles the designs join.")],
    condition: Annotated[list[str] | None, typer.Option(
        help="A condition such as category=Dress (repeatable).")] = None,
    trends: Annotated[str | None, typer.Option(
        help="Trend scores (stylecast forecast --trends): use its rising values.")] = None,
    per_condition: Annotated[int, typer.Option(help="Designs per condition.")]
    = DEFAULT_PER_CONDITION,
    model: Annotated[str, typer.Option(help="Generator URI or generator.pt.")]
    = CHAMPION_URI,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate designs, place each in its nearest style with a novelty score and its
    nearest real items. Skipped (exit 0, with the reason) when there is no GAN champion."""
    from pipeline.concepts import run as concepts_job
    from pipeline.core.settings import Settings

    if per_condition < 1:
        raise UnusableInputError("--per-condition must be at least 1")
    typer.echo(json.dumps(concepts_job.run(Settings.from_env(), week, condition, trends,
                                           per_condition, model, seed)))
