"""The Airflow assets StyleCast's DAGs publish and follow (data-aware scheduling).

- ``stylecast_items``: new items landed in the store; each ingest's event names the ISO
  weeks it wrote (``extra["weeks"]``). The weekly report follows it for *late* items only:
  an event touching a week already reported rebuilds that week's report, so a manifest
  that arrives after Monday still reaches the analyst; items for the current week wait for
  the Monday run (a report on a week still in progress would be wrong by Friday).
- ``stylecast_gan_champion``: a generator was promoted to a dataset's champion
  (``extra``: dataset, registry version, alias). The weekly concepts resolve the items
  champion when they run, so the newest one is always the one used.
- ``stylecast_weekly_report``: a week's report was published (``extra``: week, page).
"""

from __future__ import annotations

from airflow.sdk import Asset

ITEMS = Asset(name="stylecast_items", uri="stylecast://items")
CHAMPION = Asset(name="stylecast_gan_champion", uri="stylecast://gan/champion")
REPORT = Asset(name="stylecast_weekly_report", uri="stylecast://reports")


def weeks_in(events: object) -> list[str] | None:
    """The ISO weeks named by the ``stylecast_items`` events that triggered a run, or None
    when the run was not triggered by that asset (its schedule, or a person)."""
    if not events:
        return None
    weeks: set[str] = set()
    for asset, asset_events in dict(events).items():
        if getattr(asset, "name", None) != ITEMS.name and str(asset) != ITEMS.uri:
            continue
        for event in asset_events:
            weeks.update(str(w) for w in (getattr(event, "extra", None) or {}).get("weeks", []))
    return sorted(weeks)
