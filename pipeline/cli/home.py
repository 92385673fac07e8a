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
    from pipeline.core import layout, storage
    from pipeline.core.settings import Settings

    settings = Settings.from_env()
    table = Table(title="StyleCast", show_header=False)
    table.add_row("STYLECAST_HOME", settings.home)
    table.add_row("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    table.add_row("device", f"{settings.device} -> {settings.resolve_device()}")
    for name in (layout.ITEMS, layout.QUARANTINE, layout.DUPLICATES):
        data = storage.dataset(settings.path(name))
        where = f"in {len(data.files) if data else 0} files under {settings.path(name)}"
        table.add_row(name, "empty" if data is None else f"{data.count_rows()} rows {where}")
    for name in (layout.SERIES, layout.FORECASTS):
        files = storage.list_files(settings.path(name), "**/*.*")
        table.add_row(name, f"{len(files)} files under {settings.path(name)}" if files
                      else "empty")
    Console().print(table)
