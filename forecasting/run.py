"""File in, files out, logged to MLflow: what ``stylecast forecast`` and ``backtest`` do.

The engine stays pure; this module reads the series, writes the outputs atomically, and
logs parameters, metrics and artifacts to the ``stylecast-forecast`` experiment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from forecasting import calls, engine, frequency
from pipeline.core import catalog, layout, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings

EXPERIMENT = "stylecast-forecast"


def read_series(uri: str) -> tuple[pd.DataFrame, str]:
    """Long-format series (CSV or Parquet) and a short hash of the file's bytes."""
    raw = storage.read_input(uri, "series")
    try:
        frame = storage.parse_frame(raw)
    except UnicodeDecodeError:
        raise UnusableInputError(f"series {uri}: neither Parquet nor UTF-8 CSV") from None
    except Exception as err:  # the CSV and Parquet parsers raise many error types
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UnusableInputError(f"series {uri}: unreadable ({first_line})") from None
    return frame, layout.content_key(raw)


def _params(config: engine.ForecastConfig, **extra: object) -> dict[str, object]:
    params = {k: v for k, v in dataclasses.asdict(config).items() if k != "trend"}
    params.update({f"trend_{k}": v for k, v in dataclasses.asdict(config.trend).items()})
    return {**params, **extra}


def _log_backtest(table: pd.DataFrame) -> None:
    import mlflow

    numeric = table.set_index("model").select_dtypes("number")
    mlflow.log_metrics({f"backtest.{model}.{name}": float(value)
                        for model, row in numeric.iterrows() for name, value in row.items()
                        if pd.notna(value)})


def _log_frames(frames: dict[str, pd.DataFrame]) -> None:
    import mlflow

    with tempfile.TemporaryDirectory() as tmp:
        for name, frame in frames.items():
            path = Path(tmp) / name
            frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path)
            mlflow.log_artifact(str(path))


def _tracked(track: bool, settings: Settings, run_name: str, input_hash: str,
             params: dict[str, object]) -> contextlib.AbstractContextManager:
    """The MLflow run is opened first, so an unreachable store fails before any work."""
    if not track:
        return contextlib.nullcontext()
    from pipeline.core.tracking import mlflow_run

    return mlflow_run(settings, EXPERIMENT, run_name, input_hash, params)


def forecast_file(series_uri: str, out_uri: str, config: engine.ForecastConfig,
                  settings: Settings, all_models: bool = False, trends_uri: str | None = None,
                  track: bool = True, backtest_uri: str | None = None,
                  problems_uri: str | None = None, run_name: str = "forecast"
                  ) -> dict[str, object]:
    raw, input_hash = read_series(series_uri)
    prepared = engine.prepare(raw, config, f"series {series_uri}")
    params = _params(config, all_models=all_models, input=series_uri)
    with _tracked(track, settings, run_name, input_hash, params) as run:
        result = engine.forecast_prepared(prepared, config, all_models=all_models)
        storage.write_frame(result.forecasts, out_uri)
        extra = {trends_uri: result.trends, problems_uri: result.problems,
                 backtest_uri: result.backtest.table if result.backtest else None}
        for uri, frame in extra.items():
            if uri and frame is not None:
                storage.write_frame(frame, uri)
        summary: dict[str, object] = {
            "series": int(result.forecasts["unique_id"].nunique()), "freq": result.freq,
            "chosen_model": result.chosen, "models": result.models,
            "rows": len(result.forecasts), "out": out_uri,
            "problems": result.problems.to_dict("records"),
            "skipped": result.backtest.skipped if result.backtest else [],
            "labels": result.trends["label"].value_counts().to_dict(),
            "emerging": result.trends.loc[result.trends["emerging"], "unique_id"].tolist()}
        if run is not None:
            import mlflow

            mlflow.set_tag("stylecast.chosen_model", result.chosen)
            mlflow.log_dict(result.models, "models.json")
            if result.backtest is not None:
                _log_backtest(result.backtest.table)
            _log_frames({"forecasts.parquet": result.forecasts, "trends.csv": result.trends,
                         "problems.csv": result.problems,
                         **({"backtest.csv": result.backtest.table} if result.backtest else {})})
            summary["mlflow_run_id"] = run.info.run_id
    return summary


def backtest_file(series_uri: str, config: engine.ForecastConfig, settings: Settings,
                  models: Sequence[str], out_uri: str | None = None,
                  track: bool = True) -> tuple[pd.DataFrame, dict[str, object]]:
    raw, input_hash = read_series(series_uri)
    prepared = engine.prepare(raw, config, f"series {series_uri}")
    if prepared.series.empty:
        raise UnusableInputError(f"series {series_uri}: no series long enough to backtest "
                                 f"(all are short or constant)")
    params = _params(config, models=",".join(models), input=series_uri)
    with _tracked(track, settings, "backtest", input_hash, params) as run:
        result = engine.backtest(prepared.series, prepared.freq, config, models)
        out_uri = out_uri or catalog.BACKTESTS.path(settings, key=input_hash)
        storage.write_frame(result.table, out_uri)
        summary: dict[str, object] = {
            "best_model": result.best(), "out": out_uri, "skipped": result.skipped,
            "problems": prepared.problems.to_dict("records")}
        if run is not None:
            _log_backtest(result.table)
            _log_frames({"backtest.csv": result.table, "problems.csv": prepared.problems,
                         "backtest_forecasts.parquet": result.rows})
            summary["mlflow_run_id"] = run.info.run_id
    return result.table, summary


def grade_week(settings: Settings, week: str, season_length: int,
               config: calls.TrendConfig = calls.TrendConfig(),
               run_id: str | None = None) -> dict[str, object]:
    """Grade every earlier week's calls that this week's series has passed; keep the grades
    as the week's ``call-grades`` and log the track record to the week's forecast run."""
    history = catalog.SERIES.read_frame(settings, week)
    if history is None:
        raise UnusableInputError(f"no series for {week}: run the series step first")
    history["ds"] = pd.to_datetime(history["ds"])
    made = []
    for earlier in (w for w in catalog.TRENDS.weeks(settings) if w < week):
        frame = catalog.TRENDS.read_frame(settings, earlier)
        # Calls written before calls carried their horizon cannot be graded.
        if frame is not None and "horizon_end" in frame.columns:
            made.append(frame.assign(week=earlier))
    longest = history.groupby("unique_id")["ds"].size().idxmax()
    freq = frequency.infer(history.loc[history["unique_id"] == longest, "ds"].sort_values())
    grades = (calls.grade(pd.concat(made, ignore_index=True), history, season_length, freq,
                          config.threshold)
              if made and freq else pd.DataFrame(columns=list(calls.GRADE_COLUMNS)))
    catalog.CALL_GRADES.write(settings, grades, week)
    record = calls.track_record(grades, history["ds"].max())
    if run_id is not None:
        import time

        import mlflow
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        mlflow.MlflowClient(settings.mlflow_tracking_uri).log_batch(run_id, metrics=[
            Metric(name, value, now, 0) for name, value in calls.record_metrics(record).items()])
    return {"graded": len(grades), "weeks_with_calls": len(made), "record": record}
