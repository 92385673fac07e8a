"""Why a call is made: the evidence behind a series and what moved its share.

Pure: frames in, plain data out. A series' share over a period is the items in it over all
items observed (for an attribute value: over the items labelled with that attribute). Its
change between two periods splits exactly into one contribution per group (per source,
per city, per value of an attribute): each group's items in the series as a share of all
items, now minus then. Each grouping's contributions add up to the whole change, so "most
of the rise came from source X" is a statement about the data, not a model.
"""

from __future__ import annotations

import pandas as pd

NONE = "(none)"
DRIVERS_PER_GROUPING = 2


def share_change(earlier: pd.DataFrame, recent: pd.DataFrame,
                 groupings: list[str]) -> dict[str, object]:
    """``earlier`` and ``recent``: one row per item observed in the period, with a boolean
    ``in_series`` and one column per grouping (missing values count as ``(none)``).

    Returns the share then and now, the change, and for each grouping every group's
    contribution (largest first); each grouping's contributions sum to the change.
    """
    if earlier.empty or recent.empty:
        return {"from": None, "to": None, "change": None, "groupings": {}}
    then, now = float(earlier["in_series"].mean()), float(recent["in_series"].mean())
    out: dict[str, object] = {"from": then, "to": now, "change": now - then, "groupings": {}}
    for grouping in groupings:
        before = _group_shares(earlier, grouping)
        after = _group_shares(recent, grouping)
        contribution = after.sub(before, fill_value=0.0)
        order = contribution.abs().sort_values(ascending=False).index
        out["groupings"][grouping] = [{"group": str(g), "contribution": float(contribution[g])}
                                      for g in order]
    return out


def _group_shares(period: pd.DataFrame, grouping: str) -> pd.Series:
    inside = period.loc[period["in_series"], grouping].fillna(NONE).astype(str)
    return inside.value_counts() / len(period)


def top_drivers(change: dict[str, object], limit: int = DRIVERS_PER_GROUPING) -> list[dict]:
    """The groups that moved the share most, a few per grouping, largest first.

    A grouping with a single group that moved (a style of one colour, a store fed by one
    source) says nothing the change itself does not: it is left out.
    """
    drivers = [{"grouping": grouping, **entry}
               for grouping, entries in change["groupings"].items()
               if sum(e["contribution"] != 0 for e in entries) > 1
               for entry in entries[:limit] if entry["contribution"] != 0]
    return sorted(drivers, key=lambda d: -abs(d["contribution"]))


def sentence(entry: dict) -> str:
    """One plain sentence from the numbers of a highlighted entry."""
    parts = []
    if entry.get("reason"):
        parts.append(entry["reason"][0].upper() + entry["reason"][1:] + ".")
    elif entry.get("label") and entry.get("base_level") is not None:
        parts.append(
            f"Called {entry['label']}{_chance(entry)}: the forecast for the next "
            f"{entry['steps']} weeks averages {_points(entry['forecast_level'])} of items, "
            f"against {_points(entry['base_level'])} in the same weeks a year earlier "
            f"({entry['expected_change']:+.0%}).")
    if entry.get("items_recent") is not None:
        parts.append(f"{entry['items_recent']:,} items stand behind it in the last "
                     f"{entry['recent_weeks']} weeks ({entry['items_total']:,} in all).")
    change = entry.get("share_change") or {}
    drivers = entry.get("drivers") or []
    if change.get("change") is not None and (change["from"] or change["to"]):
        lead = (f"Its share went from {_points(change['from'])} to {_points(change['to'])} "
                f"({change['change'] * 100:+.2f} points) from {change['earlier_label']} to "
                f"{change['recent_label']}")
        if drivers:
            named = ", ".join(f"{d['grouping']} {d['group']} ({d['contribution'] * 100:+.2f})"
                              for d in drivers[:2])
            lead += f"; most of it from {named}"
        parts.append(lead + ".")
    return " ".join(parts)


def _chance(entry: dict) -> str:
    p = entry.get("probability")
    return "" if p is None else f", {p:.0%} sure"


def _points(share: float) -> str:
    return f"{share:.2%}"
