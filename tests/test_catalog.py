"""The data catalog: every dataset has one declaration, the paths existing homes hold, and
one set of read / write / list functions that behave alike on a local and an object-store
home. Stages spell no dataset path of their own."""

from __future__ import annotations

import re

import duckdb
import pandas as pd
import pyarrow as pa
import pytest
from helpers import REPO

from pipeline.core import catalog
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings

# Where each dataset's files are in a home written before the catalog existed: the catalog
# must find them exactly there.
LAYOUT = {
    "manifest-roots": ("manifest-roots/abc.json", None, "abc"),
    "items": ("items/week=2025-W14/part-abc.parquet", "2025-W14", "abc"),
    "quarantine": ("quarantine/abc.parquet", None, "abc"),
    "duplicates": ("duplicates/abc.parquet", None, "abc"),
    "ingest-log": ("ingest-log/abc.json", None, "abc"),
    "ingest-refusals": ("ingest-refusals/abc.json", None, "abc"),
    "drop-ledger": ("drop-ledger/abc.json", None, "abc"),
    "embeddings": ("embeddings/week=2025-W14/part-0.parquet", "2025-W14", None),
    "styles": ("styles/week=2025-W14/styles.parquet", "2025-W14", None),
    "memberships": ("styles/week=2025-W14/members.parquet", "2025-W14", None),
    "style-counts": ("series-counts/styles/week=2025-W14/counts.parquet", "2025-W14", None),
    "attribute-counts": ("series-counts/attributes/week=2025-W14/counts.parquet", "2025-W14",
                         None),
    "series": ("series/week=2025-W14/series.parquet", "2025-W14", None),
    "attribute-shares": ("series/attribute_shares.parquet", None, None),
    "style-shares": ("series/style_shares.parquet", None, None),
    "forecasts": ("forecasts/week=2025-W14/forecasts.parquet", "2025-W14", None),
    "trends": ("forecasts/week=2025-W14/trends.csv", "2025-W14", None),
    "call-grades": ("call-grades/week=2025-W14/grades.parquet", "2025-W14", None),
    "backtest": ("forecasts/week=2025-W14/backtest.csv", "2025-W14", None),
    "forecast-problems": ("forecasts/week=2025-W14/problems.csv", "2025-W14", None),
    "backtests": ("backtests/abc/metrics.csv", None, "abc"),
    "concepts": ("concepts/week=2025-W14/concepts.parquet", "2025-W14", None),
    "designs": ("designs/d-abc.json", None, "d-abc"),
    "design-images": ("designs/d-abc.png", None, "d-abc"),
    "design-board": ("design-board/board.json", None, None),
    "design-bank": ("design-bank/abc.parquet", None, "abc"),
    "design-redrawings": ("design-redrawings/redrawings.parquet", None, None),
    "rights-policy": ("rights/policy.json", None, None),
    "tombstones": ("rights/tombstones.parquet", None, None),
    "audit-log": ("rights/audit.jsonl", None, None),
    "lineage": ("lineage/abc.parquet", None, "abc"),
    "reports": ("reports/2025-W14", "2025-W14", None),
}


def test_every_dataset_is_where_existing_homes_keep_it(tmp_path):
    settings = Settings(home=str(tmp_path))
    assert set(LAYOUT) == set(catalog.BY_NAME), "a new dataset needs its place pinned here"
    for name, (relative, week, key) in LAYOUT.items():
        assert catalog.BY_NAME[name].path(settings, week, key) == f"{tmp_path}/{relative}", name
    paths = [d.path(settings, LAYOUT[d.name][1], LAYOUT[d.name][2]) for d in catalog.DATASETS]
    assert len(set(paths)) == len(paths), "two datasets never share a file"
    with pytest.raises(ValueError, match="partitioned by week"):
        catalog.STYLES.path(settings)


@pytest.fixture(params=["local", "memory"])
def settings(request, tmp_path):
    if request.param == "local":
        yield Settings(home=str(tmp_path / "home"))
        return
    yield Settings(home=f"memory://catalog-{tmp_path.name}")
    import fsspec

    memory = fsspec.filesystem("memory")
    if memory.exists(f"/catalog-{tmp_path.name}"):
        memory.rm(f"/catalog-{tmp_path.name}", recursive=True)


def _members(n: int, week: str) -> pa.Table:
    return pa.table({"item_id": [f"{week}-{i}" for i in range(n)], "iso_week": [week] * n,
                     "style_id": ["S0001"] * n, "distance": [0.5] * n})


def test_write_read_list_and_remove_alike_on_a_local_and_an_object_store_home(settings):
    data = catalog.MEMBERSHIPS
    assert data.weeks(settings) == [] and data.read(settings, "2025-W14") is None
    assert data.scan(settings) is None
    for n, week in ((3, "2025-W14"), (2, "2025-W02")):
        data.write(settings, _members(n, week), week, metadata={"stylecast.note": week})
    assert data.weeks(settings) == ["2025-W02", "2025-W14"]
    assert data.read(settings, "2025-W14").num_rows == 3
    assert data.footer(settings, "2025-W02") == {"stylecast.note": "2025-W02", "num_rows": "2"}
    # Written to the dataset's schema, whatever the writer's types.
    assert data.read(settings, "2025-W02").schema.field("distance").type == pa.float32()
    both = data.scan(settings, columns=["item_id", "week"])
    assert both.num_rows == 5 and set(both["week"].to_pylist()) == {"2025-W02", "2025-W14"}
    assert data.scan(settings, ["2025-W02"]).num_rows == 2
    assert data.scan_week(settings, "2025-W14").num_rows == 3
    assert data.row_counts(settings) == {"2025-W02": 2, "2025-W14": 3}
    before = data.fingerprint(settings, "2025-W14")
    data.write(settings, _members(4, "2025-W14"), "2025-W14")   # replaced, not added
    assert data.read(settings, "2025-W14").num_rows == 4
    assert data.fingerprint(settings, "2025-W14") != before
    # Its sibling in the same folder is another dataset.
    assert catalog.STYLES.weeks(settings) == []
    data.remove(settings, "2025-W02")
    assert data.weeks(settings) == ["2025-W14"]


def test_a_report_folder_is_swapped_in_whole_and_listed_by_week(settings, tmp_path):
    for week in ("2025-W14", "2025-W02"):
        folder = tmp_path / f"staged-{week}"
        (folder / "img").mkdir(parents=True)
        (folder / "index.html").write_text(week)
        catalog.REPORTS.publish(settings, folder, week)
    assert catalog.REPORTS.weeks(settings) == ["2025-W02", "2025-W14"]


def test_frames_keep_their_contract_columns_and_format(settings):
    frame = pd.DataFrame({"unique_id": ["a"], "ds": pd.to_datetime(["2025-01-06"]),
                          "y": [0.5], "kind": ["attribute"]})
    out = catalog.SERIES.write(settings, frame, "2025-W02")
    pd.testing.assert_frame_equal(catalog.SERIES.read_frame(settings, "2025-W02"), frame)
    trends = pd.DataFrame({"unique_id": ["a"], "label": ["rising"], "p_rising": [0.7]})
    catalog.TRENDS.write(settings, trends, "2025-W02")
    assert catalog.TRENDS.path(settings, "2025-W02").endswith(".csv")
    pd.testing.assert_frame_equal(catalog.TRENDS.read_frame(settings, "2025-W02"), trends)
    with pytest.raises(ValueError, match="missing column"):
        catalog.SERIES.write(settings, frame.drop(columns="kind"), "2025-W03")
    assert catalog.SERIES.weeks(settings) == ["2025-W02"], "a refused write leaves nothing"
    if "://" not in out:   # read back by another client
        assert duckdb.sql(f"select count(*) from read_parquet('{out}')").fetchall() == [(1,)]


def test_readers_with_rules_give_one_line_errors(settings):
    with pytest.raises(UnusableInputError, match=r"no styles under .*: run stylecast styles"):
        catalog.read_styles(settings, "2025-W14")
    with pytest.raises(UnusableInputError, match=r"no embeddings under .*: run stylecast embed"):
        catalog.read_embeddings(settings)
    with pytest.raises(UnusableInputError, match=r"no items under .*: run stylecast ingest"):
        catalog.ITEMS.required_weeks(settings, "stylecast ingest")


def test_no_module_outside_the_core_spells_a_dataset_path():
    """Paths under the home are built by the catalog only: a stage that wrote
    ``settings.path("styles", ...)`` itself would bypass its partitioning and schema."""
    spelled = re.compile(r"settings\.path\(|\.week_path\(|week_partition\(|/week=")
    offenders = []
    for folder in ("pipeline", "gan", "forecasting", "dags"):
        for source in sorted((REPO / folder).rglob("*.py")):
            if source.parent.name == "core" and source.parent.parent.name == "pipeline":
                continue
            offenders += [f"{source.relative_to(REPO)}:{n}" for n, line in enumerate(
                source.read_text().splitlines(), 1) if spelled.search(line)]
    assert offenders == []


def test_no_file_of_the_tests_or_benchmarks_shadows_a_package():
    """Both folders are on the import path of tests and benchmarks: a ``gan.py`` there would
    be imported instead of the ``gan`` package."""
    ours = {p.name for p in REPO.iterdir() if (p / "__init__.py").is_file()}
    assert {"pipeline", "gan", "forecasting"} <= ours
    for folder in ("tests", "benchmarks"):
        names = {p.stem for p in (REPO / folder).glob("*.py")} | {
            p.name for p in (REPO / folder).iterdir() if (p / "__init__.py").is_file()}
        assert not names & ours, (folder, names & ours)
