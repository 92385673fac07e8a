"""The ``stylecast`` command line. Each command is a thin shell over one library call."""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pipeline.errors import StyleCastError, UnusableInputError

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
encoder_app = typer.Typer(help="The catalogue classifier: GAN metrics' features and item "
                               "embeddings.", no_args_is_help=True)
app.add_typer(encoder_app, name="encoder")
err_console = Console(stderr=True)


def fails_cleanly(command: Callable) -> Callable:
    """Unusable input (exit 2) or a failed job (exit 3): one line on stderr, no traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except StyleCastError as err:
            err_console.print(f"[bold red]error:[/] {escape(str(err))}", soft_wrap=True,
                              highlight=False)
            raise typer.Exit(err.exit_code) from None
    return wrapper


class ProgressBar:
    """A rich progress bar on stderr (stdout stays machine-readable); silent when not a TTY."""

    def __init__(self, bar: Progress, description: str) -> None:
        self._bar = bar
        self._task = bar.add_task(description, total=None)

    def start(self, total: int) -> None:
        self._bar.update(self._task, total=total)

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None = None) -> Iterator[ProgressBar]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True,
                  disable=not err_console.is_terminal) as bar:
        progress = ProgressBar(bar, description)
        if total is not None:
            progress.start(total)
        yield progress


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


def _levels(values: list[str], extra: list[str]) -> tuple[int, ...]:
    """``--level 80 95``, ``--level 80 --level 95`` or ``--level 80,95``.

    click options take one value each, so the numbers after the first arrive as extra
    arguments; anything else there is a mistake worth naming.
    """
    try:
        return tuple(int(v) for value in [*values, *extra] for v in value.split(",")
                     if v.strip())
    except ValueError:
        raise UnusableInputError(f"unexpected argument(s) {' '.join(extra)}" if extra else
                                 f"--level takes integers such as 80 or 95, got {values}"
                                 ) from None


def _forecast_config(horizon: int, season_length: int, freq: str | None,
                     levels: tuple[int, ...], windows: int, candidates: str | None, gaps: str,
                     shares: bool):
    from forecasting.engine import DEFAULT_CANDIDATES, ForecastConfig

    names = tuple(c.strip() for c in candidates.split(",")) if candidates else DEFAULT_CANDIDATES
    return ForecastConfig(horizon=horizon, season_length=season_length, freq=freq,
                          levels=levels, windows=windows, candidates=names, gaps=gaps,
                          shares=shares)


Horizon = Annotated[int, typer.Option("--horizon", "-h", help="Periods to forecast.")]
SeasonLength = Annotated[int, typer.Option(help="Periods per season (12 monthly, 52 weekly).")]
Freq = Annotated[str | None, typer.Option(help="Pandas frequency (MS, W-MON, D) (default: "
                                                "inferred from the dates).")]
Level = Annotated[list[str], typer.Option(help="Interval levels in %: --level 80 95.")]
Windows = Annotated[int, typer.Option(help="Rolling-origin backtest windows.")]
Gaps = Annotated[str, typer.Option(help="Missing periods: reject the series, fill with zero, "
                                        "or interpolate.")]
Shares = Annotated[bool, typer.Option(help="Values are shares: demand [0, 1], clip intervals.")]
Track = Annotated[bool, typer.Option(help="Log to the MLflow experiment stylecast-forecast.")]


@app.command("series")
@fails_cleanly
def series_command(
    min_share: Annotated[float, typer.Option(help="Drop values whose mean share is lower.")]
    = 0.0,
    out: Annotated[str | None, typer.Option(help="Series file (default: "
                                                 "$STYLECAST_HOME/series/attribute_shares"
                                                 ".parquet).")] = None,
) -> None:
    """Weekly share of every attribute value over all ingested items (unique_id, ds, y, kind)."""
    from pipeline.series import build
    from pipeline.settings import Settings

    typer.echo(json.dumps(build(Settings.from_env(), min_share, out)))


Dataset = Annotated[str, typer.Option(help="fashion-mnist (28x28 grey) or items (64x64 RGB "
                                            "from the ingested store).")]
Preset = Annotated[str, typer.Option(help="baby (seconds, CPU), small (CPU) or full (GPU).")]


@gan_app.command("train")
@fails_cleanly
def gan_train(
    dataset: Dataset = "fashion-mnist",
    preset: Preset = "small",
    config: Annotated[Path | None, typer.Option(help="JSON/YAML overriding the preset.")] = None,
    max_kimg: Annotated[float | None, typer.Option(help="Stop after this many thousand "
                                                        "images.")] = None,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget.")] = None,
    attributes: Annotated[str | None, typer.Option(help="items: comma-separated condition "
                                                        "attributes (default: chosen).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue this run (name or folder).")]
    = None,
    run_name: Annotated[str | None, typer.Option(help="Name of a new run's folder.")] = None,
) -> None:
    """Train the conditional GAN; log to MLflow, register stylecast-gan (alias candidate,
    champion when it beats the champion's FD). Exit 3 when training diverges."""
    from gan.run import train_gan
    from pipeline.settings import Settings

    settings = Settings.from_env()
    summary = train_gan(settings, dataset, preset, config, resume, run_name, max_kimg=max_kimg,
                        max_minutes=max_minutes, seed=seed,
                        device=device or (settings.device if settings.device != "auto"
                                          else None),
                        attributes=tuple(attributes.split(",")) if attributes else None)
    typer.echo(json.dumps(summary))


@gan_app.command("sample")
@fails_cleanly
def gan_sample(
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and grid.png.")],
    model: Annotated[str, typer.Option(help="models:/..., runs:/... or a generator.pt.")]
    = "models:/stylecast-gan@champion",
    condition: Annotated[str, typer.Option(help="e.g. 'articleType=Dresses,baseColour=Red'; "
                                                "attributes left out are unknown.")] = "",
    n: Annotated[int, typer.Option(help="Number of images.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate designs for a condition: PNG files and a grid."""
    from gan.run import sample_command
    from pipeline.settings import Settings

    typer.echo(json.dumps(sample_command(Settings.from_env(), model, condition, n, out, seed)))


@encoder_app.command("train")
@fails_cleanly
def encoder_train(dataset: Dataset = "fashion-mnist", preset: Preset = "small") -> None:
    """Train the catalogue classifier; register it as stylecast-encoder (alias = dataset)."""
    from gan.run import train_encoder_command
    from pipeline.settings import Settings

    typer.echo(json.dumps(train_encoder_command(Settings.from_env(), dataset, preset)))


EXTRA_LEVELS = {"allow_extra_args": True, "ignore_unknown_options": False}


@app.command(context_settings=EXTRA_LEVELS)
@fails_cleanly
def forecast(
    ctx: typer.Context,
    series: Annotated[str, typer.Argument(help="Long-format unique_id, ds, y (CSV or Parquet).")],
    out: Annotated[str, typer.Option(help="Forecasts file (.csv or .parquet).")],
    horizon: Horizon,
    season_length: SeasonLength,
    freq: Freq = None,
    level: Level = ["80", "95"],  # noqa: B006 - typer reads the default, never mutates it
    models: Annotated[str, typer.Option(help="'default': the chosen model's rows only; "
                                             "'all': every model's rows too.")] = "default",
    candidates: Annotated[str | None, typer.Option(
        help="Comma-separated models to choose from (default: seasonal_naive,auto_theta,"
             "global_gbm); also auto_ets, auto_arima.")] = None,
    windows: Windows = 3,
    gaps: Gaps = "reject",
    shares: Shares = False,
    trends: Annotated[str | None, typer.Option(help="Also write trend scores here.")] = None,
    track: Track = True,
) -> None:
    """Forecast every series with the model (or ensemble) that won the backtest.

    Writes unique_id, ds, model, yhat and conformal intervals; prints a JSON summary with the
    chosen model, rising/stable/declining counts and every problem series with its reason.
    """
    from forecasting.run import forecast_file
    from pipeline.settings import Settings

    if models not in ("default", "all"):
        raise UnusableInputError(f"--models is 'default' or 'all', got {models!r}")
    config = _forecast_config(horizon, season_length, freq, _levels(level, ctx.args), windows,
                              candidates, gaps, shares)
    summary = forecast_file(series, out, config, Settings.from_env(), all_models=models == "all",
                            trends_uri=trends, track=track)
    typer.echo(json.dumps(summary, default=str))


@app.command(context_settings=EXTRA_LEVELS)
@fails_cleanly
def backtest(
    ctx: typer.Context,
    series: Annotated[str, typer.Argument(help="Long-format unique_id, ds, y (CSV or Parquet).")],
    horizon: Horizon,
    season_length: SeasonLength,
    windows: Windows = 3,
    freq: Freq = None,
    level: Level = ["80", "95"],  # noqa: B006
    models: Annotated[str, typer.Option(help="Comma-separated models to compare.")]
    = "seasonal_naive,auto_ets,auto_theta,global_gbm",
    gaps: Gaps = "reject",
    shares: Shares = False,
    out: Annotated[str | None, typer.Option(help="Metrics table file (default: "
                                                 "$STYLECAST_HOME/backtests/<hash>/metrics.csv)")]
    = None,
    track: Track = True,
) -> None:
    """Rolling-origin backtest: MASE, sMAPE, WAPE, interval coverage per model (and ensembles)."""
    from forecasting.run import backtest_file
    from pipeline.settings import Settings

    config = _forecast_config(horizon, season_length, freq, _levels(level, ctx.args), windows,
                              models, gaps, shares)
    table, summary = backtest_file(series, config, Settings.from_env(), config.candidates,
                                   out, track)
    shown = Table(title=f"backtest: {windows} windows x {horizon} periods (full table: "
                        f"{summary['out']})")
    columns = [c for c in ("model", "mase", "smape", "wape", *(f"coverage_{lv}" for lv in
               config.levels), "seconds") if c in table.columns]
    for column in columns:
        shown.add_column(column.replace("coverage_", "cov"), justify="right")
    for row in table[columns].itertuples(index=False):
        shown.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row))
    err_console.print(shown)
    typer.echo(json.dumps(summary, default=str))


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
