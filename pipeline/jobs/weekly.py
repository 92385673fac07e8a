"""The weekly job, one function per step, each keyed on an ISO week and idempotent.

Every step reads what earlier steps wrote for the same week and replaces its own outputs
for week W (``core.catalog``); a re-run (an Airflow retry, a backfill)
rewrites the same files. Each step is one call into its stage; the Airflow DAG calls these
functions and nothing else; so does ``make demo``. Only data observed up to the week is
used, so a backfilled week sees what it would have seen then.
"""

from __future__ import annotations

from pipeline.core import catalog
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.core.weeks import parse_week

HORIZON = 12
SEASON_LENGTH = 52
BACKTEST_WINDOWS = 2


def embed_step(settings: Settings, week: str) -> dict:
    """Embed every week up to this one that is missing or stale (usually just this week)."""
    from pipeline.embed import run as embed

    parse_week(week)
    weeks = [w for w in catalog.ITEMS.required_weeks(settings, "stylecast ingest") if w <= week]
    if not weeks:
        raise UnusableInputError(f"no items in or before {week}")
    return embed.run(settings, weeks).__dict__ | {"weeks": len(weeks)}


def styles_step(settings: Settings, week: str) -> dict:
    from pipeline.styles import run as styles

    return styles.run_for_week(settings, week)


def series_step(settings: Settings, week: str) -> dict:
    """Attribute and style series of every item observed up to the week, added up from
    per-week count partitions (only weeks whose items or styles changed are counted again)."""
    from pipeline.series.run import build_week

    return build_week(settings, week)


def forecast_step(settings: Settings, week: str, horizon: int = HORIZON,
                  season_length: int = SEASON_LENGTH) -> dict:
    from forecasting.engine import ForecastConfig
    from forecasting.run import forecast_file, grade_week

    config = ForecastConfig(horizon=horizon, season_length=season_length, shares=True,
                            windows=BACKTEST_WINDOWS, n_jobs=settings.workers)
    summary = forecast_file(catalog.SERIES.path(settings, week),
                            catalog.FORECASTS.path(settings, week), config, settings,
                            trends_uri=catalog.TRENDS.path(settings, week),
                            backtest_uri=catalog.BACKTEST.path(settings, week),
                            problems_uri=catalog.FORECAST_PROBLEMS.path(settings, week),
                            run_name=f"forecast-{week}")
    # The week's calls are kept (``trends``); the earlier ones it has passed are graded.
    graded = grade_week(settings, week, season_length, config.trend,
                        run_id=summary.get("mlflow_run_id"))
    return {**summary, "graded_calls": graded["graded"]}


def concepts_step(settings: Settings, week: str) -> dict:
    """Designs for this week's rising conditions; skipped (with the reason) without a champion."""
    from pipeline.concepts import run as concepts

    return concepts.run(settings, week, trends=catalog.TRENDS.path(settings, week))


def report_step(settings: Settings, week: str) -> dict:
    from pipeline.report.run import build_report

    return build_report(settings, week)
