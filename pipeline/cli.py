"""The ``stylecast`` command line. Each command is a thin shell over one library call."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from forecasting import cli as forecasting_cli
from gan import cli as gan_cli
from pipeline import cli_styles
from pipeline.cli_support import fails_cleanly, progress_bar
from pipeline.errors import UnusableInputError

app = typer.Typer(
    help="StyleCast: fashion trend forecasting from runway, catalogue and street-style data.",
    no_args_is_help=True, rich_markup_mode="rich", pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="Real data sources: locate them or turn them into manifests.",
                          no_args_is_help=True)
app.add_typer(sources_app, name="sources")
gan_app = typer.Typer(help="Conditional GAN: train designs per attribute, sample them.",
                      no_args_is_help=True)
app.add_typer(gan_app, name="gan")
gan_app.command("train")(gan_cli.gan_train)
gan_app.command("sample")(gan_cli.gan_sample)
encoder_app = typer.Typer(help="The catalogue classifier: GAN metrics' features and item "
                               "embeddings.", no_args_is_help=True)
app.add_typer(encoder_app, name="encoder")
encoder_app.command("train")(gan_cli.encoder_train)


@app.command()
@fails_cleanly
def ingest(
    manifest: Annotated[str, typer.Argument(help="Manifest CSV or Parquet (path or URI).")],
    images_root: Annotated[str | None, typer.Option(
        help="Folder the manifest's image paths are relative to (default: the manifest's)")] = None,
    source: Annotated[str, typer.Option(help="Source for rows that name none.")] = "unknown",
    size: Annotated[int, typer.Option(help="Side of the normalised square images, px.")] = 64,
    min_side: Annotated[int, typer.Option(help="Smaller images are quarantined.")] = 16,
    max_pixels: Annotated[int, typer.Option(help="Larger images count as bombs.")] = 64_000_000,
    workers: Annotated[int | None, typer.Option(
        help="Decoding processes (default: cores).")] = None,
) -> None:
    """Validate, normalise and store a manifest's items by ISO week; bad rows go to quarantine.

    Prints one JSON summary line. Exit 0 when the batch ran (even with quarantined rows),
    2 when the manifest as a whole is unusable (nothing is written then).
    """
    from pipeline import ingest as ingest_mod
    from pipeline.images import ImageLimits
    from pipeline.settings import Settings

    settings = Settings.from_env(workers=workers)
    with progress_bar("ingest") as progress:
        summary = ingest_mod.run(manifest, images_root, settings,
                                 ImageLimits(size, min_side, max_pixels), source, progress)
    typer.echo(summary.to_json())


@app.command()
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


@sources_app.command("fashion-mnist")
@fails_cleanly
def fashion_mnist_source(
    download: Annotated[bool, typer.Option(
        help="Fetch the official files (sha256-verified) into the user cache if not found.")]
    = False,
) -> None:
    """Locate Fashion-MNIST and report its size."""
    from pipeline.sources import fashion_mnist

    data = fashion_mnist.load("all", allow_download=download)
    typer.echo(json.dumps({"dir": str(data.source_dir), "images": len(data.images),
                           "classes": list(data.class_names)}))


def _write_manifest(frame, out: Path) -> None:
    from pipeline import storage

    data = (frame.to_parquet(index=False) if out.suffix == ".parquet"
            else frame.to_csv(index=False).encode())
    storage.write_bytes_atomic(data, str(out))
    typer.echo(json.dumps({"manifest": str(out), "rows": len(frame)}))


@sources_app.command("product-catalog")
@fails_cleanly
def product_catalog_source(
    catalog_dir: Annotated[Path, typer.Argument(help="Folder with styles.csv and images/.")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
) -> None:
    """Turn the Fashion Product Images catalogue into a manifest (dated by year + season).

    Ingest it with --images-root pointing at the catalogue folder.
    """
    from pipeline.sources import product_catalog

    _write_manifest(product_catalog.to_manifest(catalog_dir), out)


@sources_app.command("streetstyle")
@fails_cleanly
def streetstyle_source(
    observations: Annotated[Path, typer.Argument(help="StreetStyle-27K observations.csv.")],
    out: Annotated[Path, typer.Option(help="Manifest to write (.csv or .parquet).")],
) -> None:
    """Turn StreetStyle-27K label-only observations into an image-less manifest."""
    from pipeline.sources import streetstyle

    _write_manifest(streetstyle.to_manifest(observations), out)


@app.command("series")
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
    from pipeline.series import build
    from pipeline.settings import Settings

    typer.echo(json.dumps(build(Settings.from_env(), min_share, out, styles_week)))


app.command()(cli_styles.embed)
app.command()(cli_styles.styles)
app.command()(cli_styles.concepts)
app.command()(cli_styles.report)
runs_app = typer.Typer(help="MLflow runs: compare the latest runs of an experiment.",
                       no_args_is_help=True)
app.add_typer(runs_app, name="runs")
runs_app.command("compare")(cli_styles.runs_compare)


app.command(context_settings=forecasting_cli.EXTRA_LEVELS)(forecasting_cli.forecast)
app.command(context_settings=forecasting_cli.EXTRA_LEVELS)(forecasting_cli.backtest)


@app.command()
@fails_cleanly
def check() -> None:
    """Check that the home's store and the MLflow server can be used (exit 2 or 4 if not)."""
    from pipeline import storage
    from pipeline.settings import Settings
    from pipeline.tracking import check_reachable

    settings = Settings.from_env()
    storage.check_store(settings.home)
    check_reachable(settings.mlflow_tracking_uri)
    typer.echo(json.dumps({"home": settings.home, "mlflow": settings.mlflow_tracking_uri,
                           "ok": True}))


@app.command()
@fails_cleanly
def info() -> None:
    """Show the settings in force and what the home holds."""
    from pipeline import storage
    from pipeline.settings import Settings

    settings = Settings.from_env()
    table = Table(title="StyleCast", show_header=False)
    table.add_row("STYLECAST_HOME", settings.home)
    table.add_row("MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri)
    table.add_row("device", f"{settings.device} -> {settings.resolve_device()}")
    for name in ("items", "quarantine", "duplicates"):
        data = storage.dataset(settings.path(name))
        where = f"in {len(data.files) if data else 0} files under {settings.path(name)}"
        table.add_row(name, "empty" if data is None else f"{data.count_rows()} rows {where}")
    for name in ("series", "forecasts"):
        files = storage.list_files(settings.path(name), "**/*.*")
        table.add_row(name, f"{len(files)} files under {settings.path(name)}" if files
                      else "empty")
    Console().print(table)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
