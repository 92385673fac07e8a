"""``stylecast check | info``: is the home usable, and what does it hold."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from pipeline.core.cli_support import fails_cleanly


@fails_cleanly
def check() -> None:
    """Check that the home's store and the MLflow server can be used (exit 2 or 4 if not)."""
    from pipeline.core import storage
    from pipeline.core.settings import Settings
    from pipeline.core.tracking import check_reachable

    settings = Settings.from_env()
    storage.check_store(settings.home)
    check_reachable(settings.mlflow_tracking_uri)
    typer.echo(json.dumps({"home": settings.home, "mlflow": settings.mlflow_tracking_uri,
                           "ok": True}))


@fails_cleanly
def info() -> None:
    """Show the settings in force and what the home holds."""
    from pipeline.core import catalog
    from pipeline.core.settings import Settings

    settings = Settings.from_env()
    table = Table(title="StyleCast", show_header=False)
    table.add_row("STYLECAST_HOME", settings.home)
    table.add_row("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    table.add_row("device", f"{settings.device} -> {settings.resolve_device()}")
    counted = (catalog.ITEMS, catalog.QUARANTINE, catalog.DUPLICATES)
    for dataset in counted:
        data = dataset.scan(settings, columns=[])
        files = dataset.files(settings)
        where = f"in {len(files)} files under {dataset.root(settings)}"
        table.add_row(dataset.name, "empty" if data is None else f"{data.num_rows} rows {where}")
    for dataset in catalog.DATASETS:
        if dataset.partitioning in ("week", "week-folder") and dataset not in counted:
            weeks = dataset.weeks(settings)
            held = "empty"
            if weeks:
                held = (f"{len(weeks)} week{'s' * (len(weeks) > 1)}, {weeks[0]} .. "
                        f"{weeks[-1]}, under {dataset.root(settings)}")
            table.add_row(dataset.name, held)
    Console().print(table)
