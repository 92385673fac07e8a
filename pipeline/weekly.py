"""The weekly job, one function per step, each keyed on an ISO week and idempotent.

Every step reads what earlier steps wrote for the same week and replaces its own outputs
under ``<dataset>/week=W/``; a re-run (an Airflow retry, a backfill) rewrites the same
files. The Airflow DAG calls these functions and nothing else; so does ``make demo``.
Only data observed up to the week is used, so a backfilled week sees what it would have
seen then.
"""

from __future__ import annotations

from pipeline import storage
from pipeline.errors import UnusableInputError
from pipeline.settings import Settings
from pipeline.weeks import parse_week

HORIZON = 12
SEASON_LENGTH = 52
BACKTEST_WINDOWS = 2


def week_path(settings: Settings, dataset: str, week: str, name: str) -> str:
    return settings.path(dataset, f"week={week}", name)


def _weeks_up_to(settings: Settings, week: str) -> list[str]:
    from pipeline.embed import item_weeks

    parse_week(week)
    return [w for w in item_weeks(settings) if w <= week]


def embed_step(settings: Settings, week: str) -> dict:
    """Embed every week up to this one that is missing or stale (usually just this week)."""
    from pipeline import embed

    weeks = _weeks_up_to(settings, week)
    if not weeks:
        raise UnusableInputError(f"no items in or before {week}")
    return embed.run(settings, weeks).__dict__ | {"weeks": len(weeks)}


def styles_step(settings: Settings, week: str) -> dict:
    from pipeline import styles_job

    latest = _weeks_up_to(settings, week)[-1]
    if latest == week:
        return styles_job.run(settings, week)
    # A week with no items keeps the styles of the last week that had some, under its own
    # key; they are clustered only if that week's run never stored them.
    source = styles_job.styles_file(settings, latest)
    summary = ({"week": latest, "reused": source} if storage.exists(source)
               else styles_job.run(settings, latest))
    storage.write_bytes_atomic(storage.read_bytes(source), styles_job.styles_file(settings, week))
    return {**summary, "copied_to": week}


def series_step(settings: Settings, week: str) -> dict:
    """Attribute and style series over every item observed up to the week."""
    import pandas as pd

    from pipeline import series

    items = storage.read_table(settings.path("items"), columns=["iso_week", "attributes"],
                               filter=storage.up_to_week(week))
    if items is None or items.num_rows == 0:
        raise UnusableInputError(f"no items in or before {week}")
    weeks = items.column("iso_week").combine_chunks()
    frames = [series.item_attribute_shares(items)]
    if storage.list_files(settings.path("styles")):
        frames.append(series.build_style_series(settings, weeks, week, up_to=week))
    combined = pd.concat(frames, ignore_index=True)
    combined = _through_week(combined, week)
    out = week_path(settings, "series", week, "series.parquet")
    storage.write_frame(combined, out)
    return {"week": week, "series": int(combined["unique_id"].nunique()),
            "weeks": int(combined["ds"].nunique()), "out": out}


def _through_week(frame, week: str):
    """Zero rows up to the week itself: a week with no items is an explicit zero."""
    import pandas as pd

    monday = pd.Timestamp(parse_week(week))
    ids = frame["unique_id"].unique()
    span = pd.date_range(frame["ds"].min(), monday, freq="W-MON")
    grid = pd.MultiIndex.from_product([ids, span], names=["unique_id", "ds"])
    kinds = frame.drop_duplicates("unique_id").set_index("unique_id")["kind"]
    full = frame.set_index(["unique_id", "ds"]).reindex(grid).reset_index()
    full["kind"] = full["unique_id"].map(kinds)
    return full.fillna({"y": 0.0, "count": 0, "n": 0}).astype({"count": int, "n": int})


def forecast_step(settings: Settings, week: str, horizon: int = HORIZON,
                  season_length: int = SEASON_LENGTH) -> dict:
    from forecasting.engine import ForecastConfig
    from forecasting.run import forecast_file

    config = ForecastConfig(horizon=horizon, season_length=season_length, shares=True,
                            windows=BACKTEST_WINDOWS, n_jobs=settings.workers)
    return forecast_file(
        week_path(settings, "series", week, "series.parquet"),
        week_path(settings, "forecasts", week, "forecasts.parquet"), config, settings,
        trends_uri=week_path(settings, "forecasts", week, "trends.csv"),
        backtest_uri=week_path(settings, "forecasts", week, "backtest.csv"),
        problems_uri=week_path(settings, "forecasts", week, "problems.csv"),
        run_name=f"forecast-{week}")


def concepts_step(settings: Settings, week: str, per_condition: int = 6) -> dict:
    """Designs for this week's rising conditions; skipped (with the reason) without a champion."""
    from pipeline import concepts_job

    return concepts_job.run(settings, week, trends=week_path(settings, "forecasts", week,
                                                             "trends.csv"),
                            per_condition=per_condition)


def report_step(settings: Settings, week: str) -> dict:
    from pipeline.report.run import build_report

    return build_report(settings, week)
