"""The backfill benchmark's proof (benchmarks/weekly_backfill.py): which weeks a year of
Monday runs reports on, and that the output check finds every kind of extra or missing file
a broken backfill would leave."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import weekly_backfill


def test_a_year_of_mondays_reports_52_consecutive_weeks():
    days = weekly_backfill.mondays(date(2027, 1, 11), 52)
    assert days[0] == date(2026, 1, 19) and all(d.weekday() == 0 for d in days)
    weeks = [weekly_backfill.reported_week(d) for d in days]
    assert weeks[0] == "2026-W03" and weeks[-1] == "2027-W01"
    assert "2026-W53" in weeks and len(set(weeks)) == 52   # 2026 has 53 ISO weeks


def _complete_week(home: Path, week: str) -> None:
    for dataset, (required, _) in weekly_backfill.WEEK_FILES.items():
        folder = home / dataset / f"week={week}"
        folder.mkdir(parents=True)
        for name in required:
            (folder / name).write_bytes(b"x")
    report = home / "reports" / week
    (report / "img").mkdir(parents=True)
    (report / "img" / "0a1b.png").write_bytes(b"png")
    (report / "index.html").write_text('<img src="img/0a1b.png" alt="chart">')
    for name in ("report.json", "summary.md"):
        (report / name).write_text("{}")


def test_output_check_passes_one_set_per_week_and_names_each_defect(tmp_path):
    home, weeks = tmp_path / "home", ["2026-W01", "2026-W02"]
    for week in weeks:
        _complete_week(home, week)
    assert weekly_backfill.output_problems(home, weeks) == []

    (home / "forecasts" / "week=2026-W01" / "backtest.csv").write_text("")  # allowed
    assert weekly_backfill.output_problems(home, weeks) == []

    (home / "series" / "week=2026-W02" / "series.parquet").unlink()
    (home / "forecasts" / "week=2026-W01" / "forecasts-old.parquet").write_text("")
    (home / "reports" / "2026-W02" / "img" / "ffff.png").write_bytes(b"png")
    _complete_week(home, "2026-W05")
    (home / "_staging" / "report-2026-W01").mkdir(parents=True)
    problems = weekly_backfill.output_problems(home, weeks)
    assert "series/2026-W02: missing ['series.parquet']" in problems
    assert "forecasts/2026-W01: unexpected ['forecasts-old.parquet']" in problems
    assert "reports/2026-W02: 1 images not shown, 0 shown but missing" in problems
    assert "styles: output for 2026-W05, not a backfilled week" in problems
    assert "reports: 2026-W05, not a backfilled week" in problems
    assert "staging leftover: _staging/report-2026-W01" in problems
