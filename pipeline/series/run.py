"""The series stage: attribute and style shares of the stored items, for the CLI and the
weekly job alike.

``stylecast series`` writes every week of the store (the ``attribute-shares`` and
``style-shares`` datasets); the weekly job writes what was observed up to its week, both
kinds in one file (``series``).

Both add up per-week counts instead of re-reading the store's history:

- ``attribute-counts``: how many of week V's items carry each attribute value. Written once
  per week and rewritten only when the week's items change (the items partition's
  fingerprint is in the file's footer).
- ``style-counts``: per styles run, how many items of each data week fell in each style.
  The styles stage writes them (``pipeline.styles.membership`` says which run a week's
  items count for); this stage only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pyarrow as pa

from pipeline.core import catalog, storage
from pipeline.core.catalog import read_styles
from pipeline.core.errors import UnusableInputError
from pipeline.core.layout import PARTITION_KEY
from pipeline.core.rights import Policy
from pipeline.core.settings import Settings
from pipeline.series.transforms import (
    item_attribute_counts,
    shares_from_counts,
    style_count_shares,
    through_week,
    week_span,
)
from pipeline.styles.transforms import defining_counts

ITEMS_FINGERPRINT = "stylecast.items_fingerprint"
ITEMS = "stylecast.items"


@dataclass(frozen=True)
class Series:
    items: int
    attributes: pd.DataFrame
    styles: pd.DataFrame | None   # None until styles exist


def measure(settings: Settings, up_to: str | None = None, styles_week: str | None = None,
            min_mean_share: float = 0.0) -> Series:
    """Attribute shares of every item observed up to week ``up_to`` (default: all), and
    style shares once styles exist (the styles of ``styles_week``, default the latest)."""
    weeks = [w for w in catalog.ITEMS.weeks(settings) if not up_to or w <= up_to]
    if not weeks:
        where = f" in or before {up_to}" if up_to else f" under {catalog.ITEMS.root(settings)}"
        raise UnusableInputError(f"no items{where}: run stylecast ingest first")
    counts, items = attribute_counts(settings, weeks)
    week_keys = pa.array(weeks)
    styled = None
    if catalog.STYLES.weeks(settings):
        styled = style_count_shares(style_counts(settings, styles_week or up_to), week_keys)
    return Series(items, shares_from_counts(counts, week_span(week_keys), min_mean_share),
                  styled)


def attribute_counts(settings: Settings, weeks: list[str]) -> tuple[pd.DataFrame, int]:
    """(``attribute, value, ds, count`` of the weeks, their items), each week's partition
    brought up to date first: only weeks whose items changed are read."""
    items = 0
    policy = catalog.read_policy(settings)   # one policy for the whole run
    for week in weeks:
        items += _week_attribute_counts(settings, week, policy)
    table = catalog.ATTRIBUTE_COUNTS.scan(settings, weeks,
                                          columns=["attribute", "value", "ds", "count"])
    return table.to_pandas(), items


def _week_attribute_counts(settings: Settings, week: str, policy: Policy) -> int:
    """Refresh one week's attribute counts if its items (or the rights policy) changed; its
    count of items that may be analysed."""
    fingerprint = catalog.items_fingerprint(settings, week, policy)
    recorded = catalog.ATTRIBUTE_COUNTS.footer(settings, week)
    if recorded and recorded.get(ITEMS_FINGERPRINT) == fingerprint:
        return int(recorded[ITEMS])
    items = catalog.scan_items_week(settings, week, "analyse", ["iso_week", "attributes"],
                                    policy=policy)
    counts = item_attribute_counts(items)
    catalog.ATTRIBUTE_COUNTS.write(settings, counts.astype({"count": "int64"}), week, metadata={
        ITEMS_FINGERPRINT: fingerprint, ITEMS: str(items.num_rows)})
    return items.num_rows


def build(settings: Settings, min_mean_share: float = 0.0, out: str | None = None,
          styles_week: str | None = None) -> dict[str, object]:
    """``stylecast series``: every week of the store, attribute and style series apart."""
    measured = measure(settings, styles_week=styles_week, min_mean_share=min_mean_share)
    series = measured.attributes
    out = out or catalog.ATTRIBUTE_SHARES.path(settings)
    storage.write_frame(series, out)
    summary: dict[str, object] = {
        "items": measured.items, "series": int(series["unique_id"].nunique()),
        "weeks": int(series["ds"].nunique()), "first_week": str(series["ds"].min().date()),
        "last_week": str(series["ds"].max().date()), "out": out}
    if measured.styles is not None:
        style_out = out.rsplit("/", 1)[0] + "/" + catalog.STYLE_SHARES.file
        storage.write_frame(measured.styles, style_out)
        summary.update(style_series=int(measured.styles["unique_id"].nunique()),
                       style_out=style_out)
    return summary


def build_week(settings: Settings, week: str) -> dict[str, object]:
    """The weekly job's series: both kinds in one file, through the week itself."""
    measured = measure(settings, up_to=week, styles_week=week)
    frames = [measured.attributes, *([measured.styles] if measured.styles is not None else [])]
    combined = through_week(pd.concat(frames, ignore_index=True), week)
    out = catalog.SERIES.write(settings, combined, week)
    return {"week": week, "series": int(combined["unique_id"].nunique()),
            "weeks": int(combined["ds"].nunique()), "out": out}


def style_counts(settings: Settings, styles_week: str | None = None) -> pd.DataFrame:
    """``iso_week, style_id, count`` of every data week, as the styles runs up to the one
    ``styles_week`` uses (default: the latest) defined them."""
    last = read_styles(settings, styles_week)["week"][0].as_py()  # a week without items
    runs = [w for w in catalog.MEMBERSHIPS.weeks(settings) if w <= last]  # reuses its styles
    counted = set(catalog.STYLE_COUNTS.weeks(settings))
    missing = [w for w in runs if w not in counted]
    if last not in runs or missing:
        week = last if last not in runs else missing[0]
        raise UnusableInputError(f"styles of {week} have no style counts: run stylecast "
                                 f"styles --week {week} again")
    stored = catalog.STYLE_COUNTS.scan(settings, runs).to_pandas().rename(
        columns={PARTITION_KEY: "run"})
    stored["run"] = stored["run"].astype(str)
    return defining_counts(stored)
