"""``stylecast forecast`` and ``stylecast backtest``: thin shells over ``forecasting.run``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from forecasting.data import GAP_POLICIES
from forecasting.registry import BASE_MODELS, DEFAULT_CANDIDATES
from pipeline.core.choices import choice, value
from pipeline.core.cli_support import err_console, fails_cleanly, worker_count
from pipeline.core.errors import UnusableInputError

GapPolicy = choice("GapPolicy", GAP_POLICIES)
ModelRows = choice("ModelRows", ("default", "all"))
LEVELS_HINT = "repeat the option for each level (--level 80 --level 95) or use --level 80,95"


def _levels(values: list[str], extra: list[str], series: str) -> tuple[int, ...]:
    """``--level 80 --level 95`` or ``--level 80,95``. ``--level 80 95 FILE`` (one option,
    several values, as in other tools) leaves 95 where the series file belongs: say so."""
    if extra or series.strip().isdigit():
        stray = " ".join([series, *extra]) if series.strip().isdigit() else " ".join(extra)
        raise UnusableInputError(f"unexpected argument(s) {stray}: {LEVELS_HINT}")
    try:
        return tuple(int(v) for item in values for v in item.split(",") if v.strip())
    except ValueError:
        raise UnusableInputError(f"--level takes integers such as 80 or 95, got "
                                 f"{' '.join(values)}: {LEVELS_HINT}") from None


def _forecast_config(horizon: int, season_length: int, freq: str | None,
                     levels: tuple[int, ...], windows: int, candidates: str | None, gaps: str,
                     shares: bool, jobs: int):
    from forecasting.engine import ForecastConfig

    names = tuple(c.strip() for c in candidates.split(",")) if candidates else DEFAULT_CANDIDATES
    return ForecastConfig(horizon=horizon, season_length=season_length, freq=freq,
                          levels=levels, windows=windows, candidates=names, gaps=gaps,
                          shares=shares, n_jobs=jobs)


Horizon = Annotated[int, typer.Option("--horizon", help="Periods to forecast.")]
SeasonLength = Annotated[int, typer.Option(help="Periods per season (12 monthly, 52 weekly).")]
Freq = Annotated[str | None, typer.Option(help="Pandas frequency (MS, W-MON, 2W-MON, D) "
                                                "(default: inferred from the dates).")]
Level = Annotated[list[str], typer.Option(help="Interval level in %; repeat it (--level 80 "
                                               "--level 95) or --level 80,95.")]
Windows = Annotated[int, typer.Option(help="Rolling-origin backtest windows.")]
Gaps = Annotated[GapPolicy, typer.Option(help="Missing periods: reject the series, fill "
                                              "with zero, or interpolate.")]
Shares = Annotated[bool, typer.Option(help="Values are shares: demand [0, 1], clip intervals.")]
Track = Annotated[bool, typer.Option(help="Log to the MLflow experiment stylecast-forecast.")]
Workers = Annotated[int | None, typer.Option(
    help="CPU cores to use: statsforecast's worker processes and the global model's threads "
         "(default: $STYLECAST_WORKERS, else 1).")]
# The old name, kept working but no longer shown.
Jobs = Annotated[int | None, typer.Option("--jobs", hidden=True)]


EXTRA_LEVELS = {"allow_extra_args": True, "ignore_unknown_options": False}


@fails_cleanly
def forecast(
    ctx: typer.Context,
    series: Annotated[str, typer.Argument(help="Long-format unique_id, ds, y (CSV or Parquet).")],
    out: Annotated[str, typer.Option(help="Forecasts file (.csv or .parquet).")],
    horizon: Horizon,
    season_length: SeasonLength,
    freq: Freq = None,
    level: Level = ["80", "95"],  # noqa: B006 - typer reads the default, never mutates it
    models: Annotated[ModelRows, typer.Option(help="default: the chosen model's rows only; "
                                                   "all: every model's rows too.")]
    = ModelRows("default"),
    candidates: Annotated[str | None, typer.Option(
        help=f"Comma-separated models to choose from (default: {','.join(DEFAULT_CANDIDATES)}"
             f"); also {', '.join(m for m in BASE_MODELS if m not in DEFAULT_CANDIDATES)}.")
    ] = None,
    windows: Windows = 3,
    gaps: Gaps = GapPolicy("reject"),
    shares: Shares = False,
    trends: Annotated[str | None, typer.Option(help="Also write trend scores here.")] = None,
    track: Track = True,
    workers: Workers = None,
    jobs: Jobs = None,
) -> None:
    """Forecast every series with the model (or ensemble) that won the backtest.

    Writes unique_id, ds, model, yhat and conformal intervals; prints a JSON summary with the
    chosen model, rising/stable/declining counts and every problem series with its reason.
    """
    from forecasting.run import forecast_file
    from pipeline.core.settings import Settings

    config = _forecast_config(horizon, season_length, freq, _levels(level, ctx.args, series),
                              windows, candidates, value(gaps), shares,
                              worker_count(workers, jobs, default=1))
    summary = forecast_file(series, out, config, Settings.from_env(),
                            all_models=models.value == "all",
                            trends_uri=trends, track=track)
    typer.echo(json.dumps(summary, default=str))


@fails_cleanly
def backtest(
    ctx: typer.Context,
    series: Annotated[str, typer.Argument(help="Long-format unique_id, ds, y (CSV or Parquet).")],
    horizon: Horizon,
    season_length: SeasonLength,
    windows: Windows = 3,
    freq: Freq = None,
    level: Level = ["80", "95"],  # noqa: B006
    models: Annotated[str, typer.Option(
        help=f"Comma-separated models to compare (default: the pool `stylecast forecast` "
             f"chooses from, {','.join(DEFAULT_CANDIDATES)}); also "
             f"{', '.join(m for m in BASE_MODELS if m not in DEFAULT_CANDIDATES)}.")]
    = ",".join(DEFAULT_CANDIDATES),
    gaps: Gaps = GapPolicy("reject"),
    shares: Shares = False,
    out: Annotated[str | None, typer.Option(help="Metrics table file (default: "
                                                 "$STYLECAST_HOME/backtests/<hash>/metrics.csv)")]
    = None,
    track: Track = True,
    workers: Workers = None,
    jobs: Jobs = None,
) -> None:
    """Rolling-origin backtest: MASE, sMAPE, WAPE, interval coverage per model (and ensembles)."""
    from forecasting.run import backtest_file
    from pipeline.core.settings import Settings

    config = _forecast_config(horizon, season_length, freq, _levels(level, ctx.args, series),
                              windows, models, value(gaps), shares,
                              worker_count(workers, jobs, default=1))
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
