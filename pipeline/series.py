"""Popularity series from observations: the share of each attribute value per period.

A share (items with the value / items labelled for the attribute) rather than a count, so
that a week with more photos does not look like a trend. Long format ``unique_id, ds, y``
plus ``kind``, ``count`` and ``n`` (the denominator), as DESIGN.md's series contract asks;
``unique_id`` is ``attribute=value``. Periods with no labelled item are explicit zeros
(``count = n = 0``), so a quiet week is visible rather than missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline import storage
from pipeline.errors import UnusableInputError
from pipeline.settings import Settings
from pipeline.weeks import parse_week

ATTRIBUTE_KIND = "attribute"
STYLE_KIND = "style"
GROUP_ATTRIBUTE = "city"  # label-only street photos: every attribute also per city
SERIES_COLUMNS = ["unique_id", "ds", "y", "kind", "count", "n"]


def shares(long: pd.DataFrame, span: pd.DatetimeIndex, min_mean_share: float = 0.0
           ) -> pd.DataFrame:
    """Shares from one row per labelled observation (``ds, attribute, value``)."""
    long = long[long["value"].notna() & (long["value"].astype(str).str.strip() != "")]
    counts = long.groupby(["attribute", "value", "ds"]).size().rename("count").reset_index()
    totals = long.groupby(["attribute", "ds"]).size().rename("n").reset_index()
    values = counts[["attribute", "value"]].drop_duplicates()
    grid = values.merge(pd.DataFrame({"ds": span}), how="cross")
    out = (grid.merge(counts, on=["attribute", "value", "ds"], how="left")
           .merge(totals, on=["attribute", "ds"], how="left").fillna({"count": 0, "n": 0}))
    out["y"] = (out["count"] / out["n"].where(out["n"] > 0)).fillna(0.0)
    out["unique_id"] = out["attribute"] + "=" + out["value"].astype(str)
    out["kind"] = ATTRIBUTE_KIND
    keep = out.groupby("unique_id")["y"].transform("mean") >= min_mean_share
    return out.loc[keep, SERIES_COLUMNS].astype({"count": int, "n": int}).sort_values(
        ["unique_id", "ds"], ignore_index=True)


def attribute_shares(observations: pd.DataFrame, date_column: str, attributes: Sequence[str],
                     freq: str, min_mean_share: float = 0.0) -> pd.DataFrame:
    """Shares from a table with one column per attribute (blank = not labelled)."""
    period_freq = _period_freq(freq)
    dates = pd.to_datetime(observations[date_column], utc=True, errors="coerce")
    period = dates.dt.tz_localize(None).dt.to_period(period_freq).dt.start_time
    long = (observations[list(attributes)].assign(ds=period)
            .melt(id_vars="ds", var_name="attribute", value_name="value"))
    long = long[long["ds"].notna()]
    span = pd.period_range(long["ds"].min(), long["ds"].max(), freq=period_freq).start_time
    return shares(long, span, min_mean_share)


def item_attribute_shares(items: pa.Table, min_mean_share: float = 0.0) -> pd.DataFrame:
    """Weekly shares from the items dataset (``iso_week`` + the ``attributes`` map).

    When items carry a ``city``, every other attribute also gets per-city series
    (``city=Paris|colour=red``: the share among that city's labelled items).
    """
    attributes = items.column("attributes").combine_chunks()
    weeks = items.column("iso_week").combine_chunks()
    # Each item's index repeated once per attribute it carries (from the map's offsets).
    offsets = attributes.offsets.to_numpy()
    parents = pa.array(np.repeat(np.arange(len(attributes)), np.diff(offsets)))
    long = pd.DataFrame({"ds": pc.take(weeks, parents).to_pandas().map(mondays_of(weeks)),
                         "item": parents.to_numpy(),
                         "attribute": attributes.keys.to_pandas(),
                         "value": attributes.items.to_pandas()})
    cities = long[long["attribute"] == GROUP_ATTRIBUTE].set_index("item")["value"]
    if len(cities):
        by_city = long[long["attribute"] != GROUP_ATTRIBUTE].join(cities.rename("city"), on="item")
        by_city = by_city[by_city["city"].notna() & (by_city["city"] != "")]
        by_city["attribute"] = GROUP_ATTRIBUTE + "=" + by_city["city"] + "|" + by_city["attribute"]
        long = pd.concat([long, by_city.drop(columns="city")])
    return shares(long, week_span(weeks), min_mean_share)


def mondays_of(weeks: pa.Array) -> dict[str, pd.Timestamp]:
    return {w: pd.Timestamp(parse_week(w)) for w in pc.unique(weeks).to_pylist()}


def week_span(weeks: pa.Array) -> pd.DatetimeIndex:
    """Every Monday from the first to the last week present (missing weeks included)."""
    mondays = mondays_of(weeks).values()
    return pd.date_range(min(mondays), max(mondays), freq="W-MON")


def style_shares(style_of: pd.DataFrame, weeks: pa.Array) -> pd.DataFrame:
    """Weekly share of each style among the embedded items (``iso_week, style_id``)."""
    long = pd.DataFrame({"ds": style_of["iso_week"].map(mondays_of(weeks)),
                         "attribute": STYLE_KIND, "value": style_of["style_id"]})
    return shares(long, week_span(weeks)).assign(kind=STYLE_KIND)


def build(settings: Settings, min_mean_share: float = 0.0, out: str | None = None,
          styles_week: str | None = None) -> dict[str, object]:
    """``stylecast series``: attribute-share series of every ingested item, written whole,
    and style-share series (``style_shares.parquet`` beside it) once styles exist."""
    items = storage.read_table(settings.path("items"), columns=["iso_week", "attributes"])
    if items is None or items.num_rows == 0:
        raise UnusableInputError(f"no items under {settings.path('items')}: run stylecast "
                                 "ingest first")
    series = item_attribute_shares(items, min_mean_share)
    out = out or settings.path("series", "attribute_shares.parquet")
    storage.write_frame(series, out)
    summary: dict[str, object] = {
        "items": items.num_rows, "series": int(series["unique_id"].nunique()),
        "weeks": int(series["ds"].nunique()), "first_week": str(series["ds"].min().date()),
        "last_week": str(series["ds"].max().date()), "out": out}
    if storage.list_files(settings.path("styles")):
        styled = build_style_series(settings, items.column("iso_week").combine_chunks(),
                                    styles_week)
        style_out = out.rsplit("/", 1)[0] + "/style_shares.parquet"
        storage.write_frame(styled, style_out)
        summary.update(style_series=int(styled["unique_id"].nunique()), style_out=style_out)
    return summary


def build_style_series(settings: Settings, weeks: pa.Array, styles_week: str | None = None,
                       up_to: str | None = None) -> pd.DataFrame:
    """Every embedded item (up to week ``up_to``) assigned to the styles of ``styles_week``
    (default: the latest), so each style's history is measured with one definition."""
    from pipeline import embed, styles, styles_job

    found = styles_job.read_styles(settings, styles_week)
    embedded = embed.read(settings)
    if up_to:
        embedded = embedded.filter(pc.less_equal(embedded["iso_week"], up_to))
    version = embedded["model_version"][0].as_py()
    styles_version = found["model_version"][0].as_py()
    if version != styles_version:
        raise UnusableInputError(
            f"styles of {found['week'][0].as_py()} were found with encoder v{styles_version} "
            f"but the embeddings are v{version}: run stylecast styles again")
    index, _ = styles.assign(embed.vectors_of(embedded), styles_job.centroids_of(found))
    style_ids = np.asarray(found["style_id"].to_pylist())
    style_of = pd.DataFrame({"iso_week": embedded["iso_week"].to_pandas(),
                             "style_id": style_ids[index]})
    return style_shares(style_of, weeks)


def _period_freq(freq: str) -> str:
    """Pandas period alias for a timestamp frequency: MS -> M, W-MON -> W-SUN (Mon-Sun)."""
    if freq.upper().startswith("M"):
        return "M"
    if freq.upper().startswith("W"):
        return "W-SUN"
    return freq
