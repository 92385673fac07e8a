"""Which style each week's items count for: the ``style-counts`` dataset, one partition per
styles run. The series stage adds these counts up; it never assigns an item to a style.

**What a style's series means.** Week V's items count for the style the *latest styles
run whose window held V* gave them (its memberships): within this week's window that is
this week's styles, so a new style has the window's history. Older weeks keep the style
they had when they left the window, so a week's past is not rewritten by every later
clustering, and a weekly run costs the window, not the store. A week older than every
window of the runs before it (the first run on a grown store) is assigned to the centroids
of the first run after it, once, by nearest centroid.

A run's partition holds its window counts (``part = window``, from its memberships) and its
orphan counts (``part = orphan``); ``transforms.defining_counts`` picks, per data week, the
run that defines it. A partition records what it was computed from (the styles folder's
fingerprint and the run before it) and is recomputed only when either changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core import catalog
from pipeline.core.errors import UnusableInputError
from pipeline.core.settings import Settings
from pipeline.embed.transforms import vectors_of
from pipeline.styles.transforms import ORPHAN, WINDOW, assign, centroids_of

STYLES_FINGERPRINT = "stylecast.styles_fingerprint"
PREVIOUS_RUN = "stylecast.previous_run"


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


def runs(settings: Settings, up_to: str | None = None) -> list[StylesRun]:
    """The stored styles runs (weeks with memberships), oldest first, up to ``up_to``."""
    weeks = [w for w in catalog.MEMBERSHIPS.weeks(settings) if up_to is None or w <= up_to]
    return [StylesRun(w, catalog.STYLES.read(settings, w, columns=["window_first"])
                      ["window_first"][0].as_py(), weeks[i - 1] if i else "")
            for i, w in enumerate(weeks)]


def refresh(settings: Settings) -> list[str]:
    """Bring every run's count partition up to date (one footer read per run when nothing
    changed); returns the runs counted again."""
    counted = []
    for run in runs(settings):
        stamp = catalog.STYLES.fingerprint(settings, run.week)
        recorded = catalog.STYLE_COUNTS.footer(settings, run.week) or {}
        if (recorded.get(STYLES_FINGERPRINT), recorded.get(PREVIOUS_RUN)) != (stamp,
                                                                             run.previous):
            catalog.STYLE_COUNTS.write(settings, run_counts(settings, run), run.week, metadata={
                STYLES_FINGERPRINT: stamp, PREVIOUS_RUN: run.previous})
            counted.append(run.week)
    return counted


def run_counts(settings: Settings, run: StylesRun) -> pd.DataFrame:
    """One run's window counts (from its memberships) and orphan counts."""
    members = catalog.MEMBERSHIPS.read(settings, run.week,
                                       columns=["iso_week", "style_id"]).to_pandas()
    window = members.groupby(["iso_week", "style_id"]).size().rename("count").reset_index()
    orphan = nearest_style_counts(settings, run, run.orphans)
    return pd.concat([window.assign(part=WINDOW), orphan.assign(part=ORPHAN)],
                     ignore_index=True).astype({"count": "int64"})


def nearest_style_counts(settings: Settings, run: StylesRun,
                         wanted: Callable[[str], bool]) -> pd.DataFrame:
    """Counts of the embedded items of the ``wanted`` weeks, each at the nearest of the
    run's active centroids."""
    weeks = [w for w in catalog.EMBEDDINGS.required_weeks(settings, "stylecast embed")
             if wanted(w)]
    if not weeks:
        return pd.DataFrame({"iso_week": [], "style_id": [], "count": []})
    found = catalog.read_styles(settings, run.week)
    embedded = catalog.read_embeddings(settings, weeks)
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
