"""The series stage: attribute and style shares of the stored items, for the CLI and the
weekly job alike.

``stylecast series`` writes every week of the store (``series/attribute_shares.parquet``
and ``series/style_shares.parquet``); the weekly job writes what was observed up to its
week, both kinds in one file, ``series/week=W/series.parquet``.

Both add up per-week count partitions instead of re-reading the store's history:

- ``series-counts/attributes/week=V/counts.parquet``: how many of week V's items carry each
  attribute value. Written once per week and rewritten only when the week's items folder
  changes (its fingerprint is in the file's footer).
- ``series-counts/styles/week=S/counts.parquet``: per data week, how many items fell in each
  style, according to the styles run of week S.

**What a style's series means.** Week V's items count for the style the *latest styles
run whose window held V* gave them (its ``members.parquet``): within this week's window
that is this week's styles, so a new style has the window's history. Older weeks keep the
style they had when they left the window, so a week's past is not rewritten by every
later clustering, and a weekly run costs the window, not the store. A week older than
every window of the runs before it (the first run on a grown store) is assigned to the
centroids of the first run after it, once, by nearest centroid.
:func:`style_counts_from_history` computes the same counts from the styles runs alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.core import layout, storage
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.series.transforms import (
    item_attribute_counts,
    shares_from_counts,
    style_count_shares,
    through_week,
    week_span,
)

ATTRIBUTE_COUNTS = f"{layout.SERIES_COUNTS}/attributes"
STYLE_COUNTS = f"{layout.SERIES_COUNTS}/styles"
COUNTS_FILE = "counts.parquet"
ITEMS_FINGERPRINT = "stylecast.items_fingerprint"
ITEMS = "stylecast.items"
STYLES_FINGERPRINT = "stylecast.styles_fingerprint"
PREVIOUS_RUN = "stylecast.previous_run"
WINDOW = "window"    # a styles run's counts of the weeks in its window (from its members)
ORPHAN = "orphan"    # ... of older weeks no earlier run held (nearest of its centroids)


@dataclass(frozen=True)
class Series:
    items: int
    attributes: pd.DataFrame
    styles: pd.DataFrame | None   # None until styles exist


def measure(settings: Settings, up_to: str | None = None, styles_week: str | None = None,
            min_mean_share: float = 0.0) -> Series:
    """Attribute shares of every item observed up to week ``up_to`` (default: all), and
    style shares once styles exist (the styles of ``styles_week``, default the latest)."""
    weeks = [w for w in storage.partition_weeks(settings.path(layout.ITEMS))
             if not up_to or w <= up_to]
    if not weeks:
        where = f" in or before {up_to}" if up_to else f" under {settings.path(layout.ITEMS)}"
        raise UnusableInputError(f"no items{where}: run stylecast ingest first")
    counts, items = attribute_counts(settings, weeks)
    week_keys = pa.array(weeks)
    styled = None
    if storage.partition_weeks(settings.path(layout.STYLES), "styles.parquet"):
        styled = style_count_shares(style_counts(settings, styles_week or up_to), week_keys)
    return Series(items, shares_from_counts(counts, week_span(week_keys), min_mean_share),
                  styled)


def attribute_counts(settings: Settings, weeks: list[str]) -> tuple[pd.DataFrame, int]:
    """(``attribute, value, ds, count`` of the weeks, their items), each week's partition
    brought up to date first: only weeks whose items changed are read."""
    items = 0
    for week in weeks:
        items += _week_attribute_counts(settings, week)
    table = storage.read_table(settings.path(ATTRIBUTE_COUNTS),
                               columns=["attribute", "value", "ds", "count"],
                               filter=storage.in_weeks(weeks))
    return table.to_pandas(), items


def _week_attribute_counts(settings: Settings, week: str) -> int:
    """Refresh one week's attribute counts if its items changed; its item count."""
    path = layout.week_path(settings, ATTRIBUTE_COUNTS, week, COUNTS_FILE)
    fingerprint = storage.folder_fingerprint(layout.week_path(settings, layout.ITEMS, week))
    recorded = storage.file_metadata(path)
    if recorded and recorded.get(ITEMS_FINGERPRINT) == fingerprint:
        return int(recorded[ITEMS])
    items = storage.read_table(layout.week_path(settings, layout.ITEMS, week),
                               columns=["iso_week", "attributes"])
    counts = item_attribute_counts(items)
    table = pa.Table.from_pandas(counts.astype({"count": "int64"}), schema=ATTRIBUTE_COUNT_SCHEMA,
                                 preserve_index=False)
    storage.write_table_with_metadata(table, path, {ITEMS_FINGERPRINT: fingerprint,
                                                    ITEMS: str(items.num_rows)})
    return items.num_rows


def build(settings: Settings, min_mean_share: float = 0.0, out: str | None = None,
          styles_week: str | None = None) -> dict[str, object]:
    """``stylecast series``: every week of the store, attribute and style series apart."""
    measured = measure(settings, styles_week=styles_week, min_mean_share=min_mean_share)
    series = measured.attributes
    out = out or settings.path(layout.SERIES, "attribute_shares.parquet")
    storage.write_frame(series, out)
    summary: dict[str, object] = {
        "items": measured.items, "series": int(series["unique_id"].nunique()),
        "weeks": int(series["ds"].nunique()), "first_week": str(series["ds"].min().date()),
        "last_week": str(series["ds"].max().date()), "out": out}
    if measured.styles is not None:
        style_out = out.rsplit("/", 1)[0] + "/style_shares.parquet"
        storage.write_frame(measured.styles, style_out)
        summary.update(style_series=int(measured.styles["unique_id"].nunique()),
                       style_out=style_out)
    return summary


def week_file(settings: Settings, week: str) -> str:
    return layout.week_path(settings, layout.SERIES, week, "series.parquet")


def build_week(settings: Settings, week: str) -> dict[str, object]:
    """The weekly job's series: both kinds in one file, through the week itself."""
    measured = measure(settings, up_to=week, styles_week=week)
    frames = [measured.attributes, *([measured.styles] if measured.styles is not None else [])]
    combined = through_week(pd.concat(frames, ignore_index=True), week)
    out = week_file(settings, week)
    storage.write_frame(combined, out)
    return {"week": week, "series": int(combined["unique_id"].nunique()),
            "weeks": int(combined["ds"].nunique()), "out": out}


# -- style counts ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StylesRun:
    week: str
    window_first: str
    previous: str   # the run before it ("" for the first)

    def holds(self, week: str) -> bool:
        return self.window_first <= week <= self.week

    def orphans(self, week: str) -> bool:
        """Older than this run's window and newer than the run before it."""
        return self.previous < week < self.window_first


def _runs(settings: Settings, styles_week: str | None) -> list[StylesRun]:
    """The stored styles runs (weeks with members) up to the one ``styles_week`` uses."""
    from pipeline.styles.run import read_styles, styles_file

    found = read_styles(settings, styles_week)
    last = found["week"][0].as_py()  # a week without items reuses an earlier week's styles
    weeks = [w for w in storage.partition_weeks(settings.path(layout.STYLES), "members.parquet")
             if w <= last]
    if last not in weeks:
        raise UnusableInputError(f"styles of {last} have no members.parquet: run stylecast "
                                 f"styles --week {last} again")
    return [StylesRun(w, storage.read_file(styles_file(settings, w), columns=["window_first"])
                      ["window_first"][0].as_py(), weeks[i - 1] if i else "")
            for i, w in enumerate(weeks)]


def style_counts(settings: Settings, styles_week: str | None = None) -> pd.DataFrame:
    """``iso_week, style_id, count`` by the rule in the module notes, from the count
    partitions; a run's partition is (re)computed only when missing or stale."""
    runs = _runs(settings, styles_week)
    for run in runs:
        path = layout.week_path(settings, STYLE_COUNTS, run.week, COUNTS_FILE)
        stamp = storage.folder_fingerprint(layout.week_path(settings, layout.STYLES, run.week))
        recorded = storage.file_metadata(path) or {}
        if (recorded.get(STYLES_FINGERPRINT), recorded.get(PREVIOUS_RUN)) != (stamp,
                                                                             run.previous):
            counts = _run_counts(settings, run)
            storage.write_table_with_metadata(
                pa.Table.from_pandas(counts, schema=STYLE_COUNT_SCHEMA, preserve_index=False),
                path, {STYLES_FINGERPRINT: stamp, PREVIOUS_RUN: run.previous})
    table = storage.read_table(settings.path(STYLE_COUNTS), filter=storage.in_weeks(
        [r.week for r in runs]))
    stored = table.to_pandas().rename(columns={layout.PARTITION_KEY: "run"})
    stored["run"] = stored["run"].astype(str)
    return _chosen(stored)


def _chosen(counts: pd.DataFrame) -> pd.DataFrame:
    """Per data week, the rows of the run that defines it: the latest whose window held it,
    else the one it is an orphan of."""
    window = counts[counts["part"] == WINDOW]
    defining = window.groupby("iso_week")["run"].max()
    orphans = counts[(counts["part"] == ORPHAN) & ~counts["iso_week"].isin(defining.index)]
    defining = pd.concat([defining, orphans.groupby("iso_week")["run"].min()])
    keep = counts[counts["run"].to_numpy() == counts["iso_week"].map(defining).to_numpy()]
    keep = keep[(keep["part"] == WINDOW) | ~keep["iso_week"].isin(window["iso_week"])]
    return (keep[["iso_week", "style_id", "count"]].sort_values(["iso_week", "style_id"])
            .reset_index(drop=True))


def _run_counts(settings: Settings, run: StylesRun) -> pd.DataFrame:
    """One run's window counts (from its members) and orphan counts."""
    from pipeline.styles.run import styles_file

    members = storage.read_file(styles_file(settings, run.week, "members"),
                                columns=["iso_week", "style_id"]).to_pandas()
    window = members.groupby(["iso_week", "style_id"]).size().rename("count").reset_index()
    orphan = _nearest_style_counts(settings, run, run.orphans)
    return pd.concat([window.assign(part=WINDOW), orphan.assign(part=ORPHAN)],
                     ignore_index=True).astype({"count": "int64"})


def _nearest_style_counts(settings: Settings, run: StylesRun, wanted) -> pd.DataFrame:
    """Counts of the embedded items of the ``wanted`` weeks, each at the nearest of the
    run's active centroids."""
    from pipeline.embed.run import read_embeddings
    from pipeline.embed.transforms import vectors_of
    from pipeline.styles.run import centroids_of, embedded_weeks, read_styles
    from pipeline.styles.transforms import assign

    weeks = [w for w in embedded_weeks(settings) if wanted(w)]
    if not weeks:
        return pd.DataFrame({"iso_week": [], "style_id": [], "count": []})
    found = read_styles(settings, run.week)
    embedded = read_embeddings(settings, weeks)
    version, styles_version = (embedded["model_version"][0].as_py(),
                               found["model_version"][0].as_py())
    if version != styles_version:
        raise UnusableInputError(
            f"styles of {run.week} were found with encoder v{styles_version} but the "
            f"embeddings are v{version}: run stylecast styles again")
    index, _ = assign(vectors_of(embedded), centroids_of(found))
    style_ids = np.asarray(found["style_id"].to_pylist())
    frame = pd.DataFrame({"iso_week": embedded["iso_week"].to_pandas(),
                          "style_id": style_ids[index]})
    return frame.groupby(["iso_week", "style_id"]).size().rename("count").reset_index()


def style_counts_from_history(settings: Settings, styles_week: str | None = None
                              ) -> pd.DataFrame:
    """The same counts as :func:`style_counts`, from the styles runs and embeddings alone
    (no count partition): each data week takes its defining run's members, or that run's
    nearest centroids. It reads all history; it is the reference the incremental counts
    are checked against."""
    from pipeline.styles.run import styles_file

    runs = _runs(settings, styles_week)
    frames = []
    for week in sorted({w for w in storage.partition_weeks(settings.path(layout.EMBEDDINGS))
                        if w <= runs[-1].week}):
        holding = [r for r in runs if r.holds(week)]
        if holding:
            members = storage.read_file(styles_file(settings, holding[-1].week, "members"),
                                        columns=["iso_week", "style_id"]).to_pandas()
            mine = members[members["iso_week"] == week]
            frames.append(mine.groupby(["iso_week", "style_id"]).size().rename("count")
                          .reset_index())
        else:
            parent = next(r for r in runs if r.orphans(week))
            frames.append(_nearest_style_counts(settings, parent, {week}.__contains__))
    counts = pd.concat(frames, ignore_index=True).astype({"count": "int64"})
    return counts.sort_values(["iso_week", "style_id"]).reset_index(drop=True)


ATTRIBUTE_COUNT_SCHEMA = pa.schema([
    pa.field("attribute", pa.string()), pa.field("value", pa.string()),
    pa.field("ds", pa.timestamp("ns")), pa.field("count", pa.int64()),
])
STYLE_COUNT_SCHEMA = pa.schema([
    pa.field("iso_week", pa.string()), pa.field("style_id", pa.string()),
    pa.field("count", pa.int64()), pa.field("part", pa.string()),
])
