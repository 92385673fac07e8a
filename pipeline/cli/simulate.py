"""``stylecast simulate``: a labelled catalogue replayed as a dated weekly stream."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from pipeline.core.cli_support import fails_cleanly, progress_bar
from pipeline.core.errors import UnusableInputError


@fails_cleanly
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for manifest.csv, images/ and truth.parquet.")],
    catalog: Annotated[str, typer.Option(
        help="'fashion-mnist', or a folder with manifest.csv + images.")] = "fashion-mnist",
    weeks: Annotated[int, typer.Option(help="Number of weeks to simulate.")] = 104,
    start: Annotated[str, typer.Option(help="First week (any date in it).")] = "2024-01-01",
    scenario: Annotated[Path | None, typer.Option(
        help="Scenario YAML (default: the shipped Fashion-MNIST scenario).")] = None,
    items_per_week: Annotated[float | None, typer.Option(help="Override the scenario's mean.")]
    = None,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same output.")] = 0,
) -> None:
    """Replay a real labelled catalogue as a dated weekly stream with planted trends.

    The output is a simulated timeline over real images: a manifest + images that
    `stylecast ingest` takes like any drop, and truth.parquet with the planted weekly shares.
    """
    from pipeline.simulate import catalog as catalogs
    from pipeline.simulate import scenario as scenarios
    from pipeline.simulate.run import simulate as run_simulation

    try:
        first = date.fromisoformat(start)
    except ValueError:
        raise UnusableInputError(f"--start {start!r} is not a date (YYYY-MM-DD)") from None
    plan = scenarios.load(scenario)
    source = catalogs.load(catalog, plan.label_attribute)
    with progress_bar("simulate weeks", weeks) as progress:
        result = run_simulation(source, plan, weeks, first, out, seed, items_per_week,
                                progress.advance)
    typer.echo(json.dumps({"manifest": str(result.manifest), "truth": str(result.truth),
                           "items": result.items, "weeks": result.weeks,
                           "note": "simulated timeline over real images"}))
