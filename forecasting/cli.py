"""``stylecast forecast`` and ``stylecast backtest``: thin shells over ``forecasting.run``."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from forecasting.registry import BASE_MODELS, DEFAULT_CANDIDATES
from pipeline.core.cli_support import err_console, fails_cleanly
from pipeline.core.errors import UnusableInputError


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
                     shares: bool, jobs: int):
    from forecasting.engine import ForecastConfig

    names = tuple(c.strip() for c in candidates.split(",")) if candidates else DEFAULT_CANDIDATES
    return ForecastConfig(horizon=horizon, season_length=season_length, freq=freq,
                          levels=levels, windows=windows, candidates=names, gaps=gaps,
                          shares=shares, n_jobs=jobs)


Horizon = Annotated[int, typer.Option("--horizon", "-h", help="Periods to forecast.")]
SeasonLength = Annotated[int, typer.Option(help="Periods per season (12 monthly, 52 weekly).")]
Freq = Annotated[str | None, typer.Option(help="Pandas frequency (MS, W-MON, 2W-MON, D) "
                                                "(default: inferred from the dates).")]
Level = Annotated[list[str], typer.Option(help="Interval levels in %: --level 80 95.")]
Windows = Annotated[int, typer.Option(help="Rolling-origin backtest windows.")]
Gaps = Annotated[str, typer.Option(help="Missing periods: reject the series, fill with zero, "
                                        "or interpolate.")]
Shares = Annotated[bool, typer.Option(help="Values are shares: demand [0, 1], clip intervals.")]
Track = Annotated[bool, typer.Option(help="Log to the MLflow experiment stylecast-forecast.")]
Jobs = Annotated[int, typer.Option(help="CPU cores to use: statsforecast's worker processes and "
                                        "the global model's threads.")]


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
    models: Annotated[str, typer.Option(help="'default': the chosen model's rows only; "
                                             "'all': every model's rows too.")] = "default",
    candidates: Annotated[str | None, typer.Option(
        help=f"Comma-separated models to choose from (default: {','.join(DEFAULT_CANDIDATES)}"
             f"); also {', '.join(m for m in BASE_MODELS if m not in DEFAULT_CANDIDATES)}.")
    ] = None,
    windows: Windows = 3,
    gaps: Gaps = "reject",
    shares: Shares = False,
    trends: Annotated[str | None, typer.Option(help="Also write trend scores here.")] = None,
    track: Track = True,
    jobs: Jobs = 1,
) -> None:
    """Forecast every series with the model (or ensemble) that won the backtest.

    Writes unique_id, ds, model, yhat and conformal intervals; prints a JSON summary with the
    chosen model, rising/stable/declining counts and every problem series with its reason.
    """
    from forecasting.run import forecast_file
    from pipeline.core.settings import Settings

    if models not in ("default", "all"):
        raise UnusableInputError(f"--models is 'default' or 'all', got {models!r}")
    config = _forecast_config(horizon, season_length, freq, _levels(level, ctx.args), windows,
                              candidates, gaps, shares, jobs)
    summary = forecast_file(series, out, config, Settings.from_env(), all_models=models == "all",
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
    gaps: Gaps = "reject",
    shares: Shares = False,
    out: Annotated[str | None, typer.Option(help="Metrics table file (default: "
                                                 "$STYLECAST_HOME/backtests/<hash>/metrics.csv)")]
    = None,
    track: Track = True,
    jobs: Jobs = 1,
) -> None:
    """Rolling-origin backtest: MASE, sMAPE, WAPE, interval coverage per model (and ensembles)."""
    from forecasting.run import backtest_file
    from pipeline.core.settings import Settings

    config = _forecast_config(horizon, season_length, freq, _levels(level, ctx.args), windows,
                              models, gaps, shares, jobs)
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
