"""``stylecast styles``: a window of embeddings clustered into styles with stable IDs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly
from pipeline.core.errors import UnusableInputError
from pipeline.styles import DEFAULT_WINDOW_WEEKS

Week = Annotated[str | None, typer.Option(help="ISO week, e.g. 2025-W14 (default: the latest).")]


@fails_cleanly
def styles(
    week: Week = None,
    window: Annotated[int, typer.Option(help="Weeks of items clustered (rolling window).")]
    = DEFAULT_WINDOW_WEEKS,
    k: Annotated[int | None, typer.Option(help="Number of styles (default: chosen by "
                                               "silhouette).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Cluster the window's embeddings into styles whose IDs stay stable week to week."""
    from pipeline.core.settings import Settings
    from pipeline.styles import run as styles_job

    if k is not None and k < 1:
        raise UnusableInputError("--k must be at least 1")
    typer.echo(json.dumps(styles_job.run(Settings.from_env(), week, window, k, seed=seed)))
