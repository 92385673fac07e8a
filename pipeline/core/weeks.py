"""ISO-week keys ("2025-W14"): the partition key of every weekly dataset."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


def iso_week(moment: date | datetime | pd.Timestamp) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year:04d}-W{week:02d}"


def iso_weeks(moments: pd.Series) -> pd.Series:
    """Vectorised :func:`iso_week` for a datetime series."""
    cal = moments.dt.isocalendar()
    years = cal["year"].astype("int64").astype(str)
    weeks = cal["week"].astype("int64").map("{:02d}".format)
    return years + "-W" + weeks


def parse_week(key: str) -> date:
    """The Monday that starts ISO week ``key``; a clear error for anything else."""
    match = _WEEK_RE.match(key)
    if not match:
        raise ValueError(f"not an ISO week: {key!r} (expected e.g. 2025-W14)")
    year, week = int(match[1]), int(match[2])
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError as err:
        raise ValueError(f"not an ISO week: {key!r} ({err})") from None


def week_starts(start: date, count: int) -> list[date]:
    """``count`` consecutive Mondays, beginning with the Monday of ``start``'s week."""
    monday = start - timedelta(days=start.weekday())
    return [monday + timedelta(weeks=i) for i in range(count)]


def to_utc(values: pd.Series) -> pd.Series:
    """Parse mixed date/time strings to UTC timestamps; unparseable values become NaT."""
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return parsed.astype("datetime64[us, UTC]") if not parsed.empty else parsed


# d/m/y or m/d/y with numbers only: the order is a guess unless one part exceeds 12.
_NUMERIC_DATE = r"^\s*\d{1,2}[./-]\d{1,2}[./-]\d{2,4}\b"


def day_month_ambiguous(values: pd.Series) -> pd.Series:
    """True where a value is a different date read month-first and day-first (01/02/2025);
    13/02/2025 or 2025-02-01 are not."""
    numeric = values.astype("string").str.match(_NUMERIC_DATE).fillna(False).to_numpy(bool)
    ambiguous = np.zeros(len(values), dtype=bool)
    if numeric.any():
        subset = values[numeric]
        month_first = pd.to_datetime(subset, errors="coerce", utc=True, format="mixed")
        day_first = pd.to_datetime(subset, errors="coerce", utc=True, format="mixed",
                                   dayfirst=True)
        ambiguous[numeric] = (month_first.notna() & (month_first != day_first)).to_numpy(bool)
    return pd.Series(ambiguous, index=values.index)


__all__ = ["day_month_ambiguous", "iso_week", "iso_weeks", "parse_week", "to_utc",
           "week_starts"]
