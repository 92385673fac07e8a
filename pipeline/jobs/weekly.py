"""The weekly job, one function per step, each keyed on an ISO week and idempotent.

Every step reads what earlier steps wrote for the same week and replaces its own outputs
under ``<dataset>/week=W/``; a re-run (an Airflow retry, a backfill) rewrites the same
files. The Airflow DAG calls these functions and nothing else; so does ``make demo``.
Only data observed up to the week is used, so a backfilled week sees what it would have
seen then.
"""

from __future__ import annotations

from pipeline.core import layout, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.core.weeks import parse_week

HORIZON = 12
SEASON_LENGTH = 52
BACKTEST_WINDOWS = 2


def _weeks_up_to(settings: Settings, week: str) -> list[str]:
    from pipeline.embed.run import item_weeks

    parse_week(week)
    return [w for w in item_weeks(settings) if w <= week]


def embed_step(settings: Settings, week: str) -> dict:
    """Embed every week up to this one that is missing or stale (usually just this week)."""
    from pipeline.embed import run as embed

    weeks = _weeks_up_to(settings, week)
    if not weeks:
        raise UnusableInputError(f"no items in or before {week}")
    return embed.run(settings, weeks).__dict__ | {"weeks": len(weeks)}


def styles_step(settings: Settings, week: str) -> dict:
    from pipeline.styles import run as styles

    latest = _weeks_up_to(settings, week)[-1]
    if latest == week:
        return styles.run(settings, week)
    # A week with no items keeps the styles of the last week that had some, under its own
    # key; they are clustered only if that week's run never stored them.
    source = styles.styles_file(settings, latest)
    summary = ({"week": latest, "reused": source} if storage.exists(source)
               else styles.run(settings, latest))
    storage.write_bytes_atomic(storage.read_bytes(source), styles.styles_file(settings, week))
    return {**summary, "copied_to": week}


def series_step(settings: Settings, week: str) -> dict:
    """Attribute and style series of every item observed up to the week, added up from
    per-week count partitions (only weeks whose items or styles changed are counted again)."""
    from pipeline.series.run import build_week

    return build_week(settings, week)


def forecast_step(settings: Settings, week: str, horizon: int = HORIZON,
                  season_length: int = SEASON_LENGTH) -> dict:
    from forecasting.engine import ForecastConfig
    from forecasting.run import forecast_file
    from pipeline.series.run import week_file

    config = ForecastConfig(horizon=horizon, season_length=season_length, shares=True,
                            windows=BACKTEST_WINDOWS, n_jobs=settings.workers)

    def output(name: str) -> str:
        return layout.week_path(settings, layout.FORECASTS, week, name)

    return forecast_file(week_file(settings, week), output("forecasts.parquet"), config,
                         settings, trends_uri=output("trends.csv"),
                         backtest_uri=output("backtest.csv"),
                         problems_uri=output("problems.csv"), run_name=f"forecast-{week}")


def concepts_step(settings: Settings, week: str) -> dict:
    """Designs for this week's rising conditions; skipped (with the reason) without a champion."""
    from pipeline.concepts import run as concepts

    trends = layout.week_path(settings, layout.FORECASTS, week, "trends.csv")
    return concepts.run(settings, week, trends=trends)


def report_step(settings: Settings, week: str) -> dict:
    from pipeline.report.run import build_report

    return build_report(settings, week)
