"""A year of the weekly report through Airflow: ``airflow backfill create`` of 52 weeks.

On a store that ``benchmarks/weekly_scale.py build`` made (300k items by default), restored
to its built state, this starts what ``tests/test_deployment.py`` starts: PostgreSQL for
Airflow's metadata, then ``airflow api-server``, ``scheduler`` and ``dag-processor`` with the
LocalExecutor. It creates one backfill of ``stylecast_weekly_report`` with the CLI, waits for
the scheduler to finish it, and then checks what the year left behind:

* Airflow: one successful backfill run per Monday, each reporting on its own week (the
  ``resolve_week`` XCom), every task successful (retries counted);
* the home: for every week exactly one set of outputs (styles, series, forecasts, concepts,
  report with exactly the images its page shows), nothing for any other week, no staging
  leftovers;
* MLflow: exactly one forecast run and one report run per DAG run.

The tracking store is a copy of the one the scale benchmark trained the encoder and the GAN
champion into (SQLite: one task runs at a time, as ``--max-active-runs 1`` asks).

Usage:
  python benchmarks/weekly_backfill.py [--root DIR] [--store 300k] [--weeks 52]
                                       [--last-monday 2026-11-30] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from _support.airflow_api import AirflowApi  # noqa: E402  (what the deployment tests start too)
from _support.airflow_local import server_environment  # noqa: E402
from _support.processes import free_port  # noqa: E402
from _support.services import Service, start_airflow, start_postgres, wait_http  # noqa: E402
from weekly_scale import DEFAULT_ROOT, STEPS, restore  # noqa: E402

DAG = "stylecast_weekly_report"
USER = "stylecast"
TARGET_HOURS = 2.0
TIMEOUT_HOURS = 4.0
# The files one week's run leaves, per dataset (backtest.csv only once there is history
# enough to backtest on).
WEEK_FILES = {"styles": ({"styles.parquet", "members.parquet"}, set()),
              "series": ({"series.parquet"}, set()),
              "forecasts": ({"forecasts.parquet", "trends.csv", "problems.csv"},
                            {"backtest.csv"}),
              "concepts": ({"concepts.parquet"}, set())}
REPORT_FILES = {"index.html", "report.json", "summary.md"}


def mondays(last: date, weeks: int) -> list[date]:
    return [last - timedelta(weeks=n) for n in reversed(range(weeks))]


def reported_week(monday: date) -> str:
    """The week a Monday run reports on: the one that ended the day before."""
    year, week, _ = (monday - timedelta(days=1)).isocalendar()
    return f"{year}-W{week:02d}"


def start_airflow_on_postgres(root: Path, home: Path, tracking_uri: str, postgres,
                              services: list[Service]) -> tuple[dict[str, str], AirflowApi]:
    """The deployment's Airflow; its services are appended to ``services`` as they start,
    so the caller stops whatever did start."""
    postgres.create_database("airflow")
    api_port = free_port()
    base_env = {**os.environ, "STYLECAST_HOME": str(home), "MLFLOW_TRACKING_URI": tracking_uri,
                "STYLECAST_WORKERS": "2", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                "PYTHONWARNINGS": "ignore"}
    env = server_environment(base_env, root / "airflow", postgres.url("airflow"), api_port,
                             "LocalExecutor", USER)
    services += start_airflow(env, api_port, root).values()
    base = f"http://127.0.0.1:{api_port}"
    wait_http(f"{base}/api/v2/monitor/health", services[0])
    api = AirflowApi(base, root / "airflow", USER,
                     lambda: "\n".join(s.log_tail(1500) for s in services))
    api.wait_parsed(DAG)
    return env, api


def backfill(env: dict[str, str], api: AirflowApi, first: date, last: date) -> dict:
    """Create the backfill with the CLI and wait until every run in it has finished."""
    command = [sys.executable, "-m", "airflow", "backfill", "create", "--dag-id", DAG,
               "--from-date", f"{first.isoformat()}T00:00:00+00:00",
               "--to-date", f"{last.isoformat()}T23:59:00+00:00", "--max-active-runs", "1"]
    started = time.monotonic()
    created = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                             cwd=REPO)
    if created.returncode != 0:
        sys.exit(f"airflow backfill create failed:\n{created.stdout}\n{created.stderr}")
    deadline = started + TIMEOUT_HOURS * 3600
    while True:
        runs = backfill_runs(api)
        done = [r for r in runs if r["state"] in ("success", "failed")]
        print(f"{time.monotonic() - started:7.0f} s: {len(done)}/{len(runs)} runs finished",
              flush=True)
        if runs and len(done) == len(runs):
            break
        if time.monotonic() > deadline:
            sys.exit(f"the backfill did not finish in {TIMEOUT_HOURS} h:\n{api.on_timeout()}")
        time.sleep(10)
    return {"wall_seconds": round(time.monotonic() - started, 1), "command": command,
            "cli_output": created.stdout[-2000:]}


def backfill_runs(api: AirflowApi) -> list[dict]:
    runs: list[dict] = []
    while True:
        page = api.request("GET", f"/dags/{DAG}/dagRuns", params={
            "run_type": "backfill", "limit": 100, "offset": len(runs),
            "order_by": "logical_date"}).json()
        runs += page["dag_runs"]
        if len(runs) >= page["total_entries"] or not page["dag_runs"]:
            return runs


def airflow_record(api: AirflowApi, runs: list[dict]) -> list[dict]:
    """Per run: its state, wall time, the week it reported and its tasks' durations."""
    record = []
    for run in runs:
        run_id = run["dag_run_id"]
        tasks = api.task_instances(DAG, run_id)
        week = api.request("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/resolve_week/"
                                  "xcomEntries/return_value").json().get("value")
        record.append({
            "run_id": run_id, "logical_date": run["logical_date"], "state": run["state"],
            "week": week, "wall_seconds": _seconds(run["start_date"], run["end_date"]),
            "tasks": {t["task_id"]: {"state": t["state"], "tries": t["try_number"],
                                     "seconds": t["duration"]} for t in tasks}})
    return record


def _seconds(start: str | None, end: str | None) -> float | None:
    if not (start and end):
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def output_problems(home: Path, weeks: list[str]) -> list[str]:
    """Everything in the home that is not exactly one set of outputs for each week."""
    problems = []
    for dataset, (required, optional) in WEEK_FILES.items():
        found = {p.name.removeprefix("week="): p for p in (home / dataset).glob("week=*")}
        problems += [f"{dataset}: output for {w}, not a backfilled week"
                     for w in sorted(set(found) - set(weeks))]
        for week in weeks:
            files = {p.name for p in found[week].iterdir()} if week in found else set()
            if missing := required - files:
                problems.append(f"{dataset}/{week}: missing {sorted(missing)}")
            if extra := files - required - optional:
                problems.append(f"{dataset}/{week}: unexpected {sorted(extra)}")
    reports = {p.name: p for p in (home / "reports").iterdir() if p.is_dir()}
    problems += [f"reports: {w}, not a backfilled week" for w in sorted(set(reports) - set(weeks))]
    for week in weeks:
        folder = reports.get(week)
        if folder is None:
            problems.append(f"reports/{week}: missing")
            continue
        files = {p.name for p in folder.iterdir() if p.is_file()}
        if files != REPORT_FILES:
            problems.append(f"reports/{week}: files {sorted(files)}")
        shown = set(re.findall(r'img/([0-9a-f]+\.png)', (folder / "index.html").read_text()))
        images = {p.name for p in (folder / "img").iterdir()}
        if shown != images:
            problems.append(f"reports/{week}: {len(images - shown)} images not shown, "
                            f"{len(shown - images)} shown but missing")
    leftovers = [p for p in (home / "_staging").rglob("*")] if (home / "_staging").exists() \
        else []
    problems += [f"staging leftover: {p.relative_to(home)}" for p in leftovers]
    return problems


def mlflow_record(tracking_uri: str, run_ids: set[str]) -> dict:
    """How many runs each DAG run left in the forecast and report experiments."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    counts = {}
    for experiment in ("stylecast-forecast", "stylecast-report"):
        found = client.search_runs(
            [client.get_experiment_by_name(experiment).experiment_id],
            f"tags.`airflow.dag_id` = '{DAG}'", max_results=5000)
        per_run = Counter(r.data.tags.get("airflow.run_id") for r in found)
        counts[experiment] = {"runs": len(found),
                              "dag_runs_with_exactly_one": sum(
                                  per_run[r] == 1 for r in run_ids),
                              "dag_runs_with_more": sum(per_run[r] > 1 for r in run_ids),
                              "runs_of_other_dag_runs": sum(
                                  n for r, n in per_run.items() if r not in run_ids)}
    return counts


def summarise(runs: list[dict], weeks: list[str], wall: float, problems: list[str],
              tracked: dict) -> dict:
    def step_seconds(step: str) -> list[float]:
        return sorted(r["tasks"][step]["seconds"] or 0 for r in runs if step in r["tasks"])

    per_step = {s: step_seconds(s) for s in ("resolve_week", *STEPS)}
    task_total = sum(sum(v) for v in per_step.values())
    return {
        "runs": len(runs), "weeks_expected": len(weeks),
        "runs_succeeded": sum(r["state"] == "success" for r in runs),
        "weeks_reported_match": [r["week"] for r in runs] == weeks,
        "tasks_succeeded": sum(t["state"] == "success" for r in runs
                               for t in r["tasks"].values()),
        "tasks": sum(len(r["tasks"]) for r in runs),
        "retries": sum(t["tries"] - 1 for r in runs for t in r["tasks"].values()),
        "wall_seconds": wall, "task_seconds": round(task_total, 1),
        "per_step": {s: {"median": v[len(v) // 2], "max": v[-1], "total": round(sum(v), 1)}
                     for s, v in per_step.items() if v},
        "run_wall": sorted(r["wall_seconds"] or 0 for r in runs),
        "output_problems": problems, "mlflow": tracked}


def table(summary: dict, store: str, items: int) -> list[str]:
    wall = summary["wall_seconds"]
    lines = ["| step | median s | max s | total s | share of the wall time |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for step, s in summary["per_step"].items():
        lines.append(f"| {step} | {s['median']:.1f} | {s['max']:.1f} | {s['total']:.0f} | "
                     f"{s['total'] / wall:.0%} |")
    overhead = wall - summary["task_seconds"]
    lines.append(f"| between tasks (scheduling, task start-up) | | | {overhead:.0f} | "
                 f"{overhead / wall:.0%} |")
    lines.append(f"| **backfill, create to last run finished** | | | **{wall:.0f}** | 100% |")
    run_wall = summary["run_wall"]
    forecast = summary["mlflow"]["stylecast-forecast"]
    report = summary["mlflow"]["stylecast-report"]
    n = summary["runs"]
    checks = [
        (f"{summary['weeks_expected']} weeks on the {store} store ({items:,} items), wall time",
         f"{wall / 3600:.2f} h ({wall / summary['weeks_expected']:.0f} s a week, median "
         f"run {run_wall[len(run_wall) // 2]:.0f} s)", f"< {TARGET_HOURS:.0f} h",
         wall < TARGET_HOURS * 3600),
        ("backfill runs that succeeded", f"{summary['runs_succeeded']} of {n}",
         f"{summary['weeks_expected']} of {summary['weeks_expected']}",
         summary["runs_succeeded"] == n == summary["weeks_expected"]),
        ("each run reported its own week, in order", str(summary["weeks_reported_match"]),
         "True", summary["weeks_reported_match"]),
        ("tasks that succeeded (retries)", f"{summary['tasks_succeeded']} of "
         f"{summary['tasks']} ({summary['retries']})", f"all of {n * (len(STEPS) + 1)}",
         summary["tasks_succeeded"] == summary["tasks"] == n * (len(STEPS) + 1)),
        ("weeks whose outputs are not exactly one set", str(len(summary["output_problems"])),
         "0", not summary["output_problems"]),
        ("DAG runs with exactly one forecast run in MLflow",
         f"{forecast['dag_runs_with_exactly_one']} of {n} ({forecast['runs']} runs)",
         f"{n} of {n}", forecast["dag_runs_with_exactly_one"] == n == forecast["runs"]),
        ("DAG runs with exactly one report run in MLflow",
         f"{report['dag_runs_with_exactly_one']} of {n} ({report['runs']} runs)",
         f"{n} of {n}", report["dag_runs_with_exactly_one"] == n == report["runs"]),
    ]
    return [*lines, "", "| check | measured | goal | met |", "| --- | ---: | ---: | :---: |",
            *[f"| {a} | {b} | {c} | {'yes' if d else 'no'} |" for a, b, c, d in checks]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--store", default="300k")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--last-monday", type=date.fromisoformat, default=date(2026, 11, 30),
                        help="the logical date (a Monday) of the backfill's last run")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results"
                        / "weekly_backfill.md")
    args = parser.parse_args()
    if args.last_monday.weekday() != 0:
        parser.error(f"--last-monday {args.last_monday} is not a Monday")
    home = args.root / f"store-{args.store}"
    if not (home / "items").is_dir():
        sys.exit(f"no store at {home}: build it with python benchmarks/weekly_scale.py build")
    days = mondays(args.last_monday, args.weeks)
    weeks = [reported_week(d) for d in days]
    restore(home)
    work = args.root / f"backfill-{args.store}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(args.root / "mlflow.db", work / "mlflow.db")
    tracking_uri = f"sqlite:///{work / 'mlflow.db'}"
    postgres = start_postgres(free_port())
    services: list[Service] = []
    try:
        env, api = start_airflow_on_postgres(work, home, tracking_uri, postgres, services)
        timing = backfill(env, api, days[0], days[-1])
        runs = airflow_record(api, backfill_runs(api))
    finally:
        for service in reversed(services):
            service.stop()
        postgres.stop()
    problems = output_problems(home, weeks)
    tracked = mlflow_record(tracking_uri, {r["run_id"] for r in runs})
    summary = summarise(runs, weeks, timing["wall_seconds"], problems, tracked)
    items = json.loads((args.root / "build.json").read_text())[args.store]["items"]
    lines = [
        "# A year of backfill through Airflow (`benchmarks/weekly_backfill.py`)", "",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, "
        f"{datetime.now(UTC):%Y-%m-%d}. `{' '.join(timing['command'][3:])}` on the "
        f"{args.store} store ({items:,} items, 104 weeks), restored to its built state "
        f"(history embedded), reporting {weeks[0]} to {weeks[-1]}. Airflow LocalExecutor on "
        "PostgreSQL (api-server, scheduler, dag-processor); task durations from Airflow's "
        "task instances.", "", *table(summary, args.store, items), ""]
    if problems:
        lines += ["Output problems:", "", *[f"- {p}" for p in problems[:50]], ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps(
        {"summary": summary, "runs": runs, "cli_output": timing["cli_output"]}, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
