"""Check long-format series before any model sees them; say what was wrong, per series.

One bad series never stops the others: it is either left out (``rejected``) or forecast by a
simpler model (``fallback``), and each case is a row in the problems table with a reason
code and a sentence. Only input that is unusable as a whole raises ``UnusableInputError``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting import frequency
from pipeline.core.errors import UnusableInputError
from pipeline.core.weeks import iso_weeks

REQUIRED_COLUMNS = ("unique_id", "ds", "y")
GAP_POLICIES = ("reject", "zero", "interpolate")
PROBLEM_COLUMNS = ["unique_id", "reason", "action", "message"]


@dataclass(frozen=True)
class PreparedSeries:
    series: pd.DataFrame     # clean, sorted: unique_id, ds, y — every series modelled fully
    fallback: pd.DataFrame   # short or constant series, forecast by the fallback model
    freq: str
    problems: pd.DataFrame   # PROBLEM_COLUMNS


class _Problems:
    def __init__(self) -> None:
        self.rows: list[dict[str, str]] = []

    def add(self, ids, reason: str, action: str, message: str) -> None:
        for uid in ids:
            self.rows.append({"unique_id": str(uid), "reason": reason, "action": action,
                              "message": message.format(uid=uid)})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=PROBLEM_COLUMNS)


def problem_rows(ids, reason: str, action: str, message: str) -> pd.DataFrame:
    """Problems found after preparation (e.g. by a model), in the same table."""
    problems = _Problems()
    problems.add(ids, reason, action, message)
    return problems.frame()


def prepare(raw: pd.DataFrame, season_length: int, freq: str | None = None,
            gaps: str = "reject", shares: bool = False, source: str = "input") -> PreparedSeries:
    """Validate and clean; ``shares`` demands values in [0, 1] (share-of-items series)."""
    if gaps not in GAP_POLICIES:
        raise UnusableInputError(f"gaps policy {gaps!r} is not one of {', '.join(GAP_POLICIES)}")
    if season_length < 1:
        raise UnusableInputError(f"season length must be >= 1, got {season_length}")
    df = _columns(raw, source)
    problems = _Problems()
    df = _drop_bad_values(df, shares, problems)
    df = _drop_duplicates(df, problems)
    if df.empty:
        raise UnusableInputError(f"{source}: no usable series left "
                                 f"({_reason_summary(problems.frame())})")
    freq = frequency.check(freq) if freq else _infer_frequency(df, source)
    df = _regular_dates(df, freq, gaps, problems)
    if df.empty:
        raise UnusableInputError(f"{source}: no series left on a regular {freq} calendar "
                                 f"({_reason_summary(problems.frame())})")
    _note_early_ends(df, freq, problems)
    series, fallback = _split_fallback(df, season_length, problems)
    return PreparedSeries(series, fallback, freq, problems.frame())


def _columns(raw: pd.DataFrame, source: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise UnusableInputError(f"{source}: missing column(s) {', '.join(missing)} "
                                 f"(found: {', '.join(map(str, raw.columns)) or 'none'})")
    if raw.empty:
        raise UnusableInputError(f"{source}: no rows")
    ids = raw["unique_id"]
    no_id = ids.isna() | (ids.astype(str).str.strip() == "")
    df = pd.DataFrame({
        "unique_id": ids.astype(str).where(~no_id),   # missing: left out, with a problem row
        "ds": _dates(raw["ds"], source),
        "y": pd.to_numeric(raw["y"], errors="coerce").astype(float),
    })
    if df["ds"].isna().all():
        raise UnusableInputError(f"{source}: column ds holds no dates")
    if df["y"].isna().all():
        written = raw["y"][raw["y"].notna() & (raw["y"].astype(str).str.strip() != "")]
        if len(written):
            # e.g. thousands separators ("1,234.5"): name the format, not "all non_finite"
            raise UnusableInputError(f"{source}: column y holds no numbers (e.g. "
                                     f"{str(written.iloc[0])!r}); write plain numbers such as "
                                     "1234.5")
    return df


_UTC_OFFSET = r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def _dates(values: pd.Series, source: str) -> pd.Series:
    """Parse ``ds``, refusing what would otherwise be misread silently.

    Numbers would become nanoseconds since 1970, and text such as 01/02/2018 reads as
    2 January month-first and 1 February day-first: either misreading looks like an
    irregular calendar, and the error would point at the wrong cause.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_localize(None)   # local wall time, as below
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values) and values.notna().any():
        raise UnusableInputError(f"{source}: column ds holds numbers (e.g. {values.iloc[0]}), "
                                 "not dates; write dates such as 2024-01-01")
    mondays = _iso_week_mondays(values)
    if mondays is not None:
        return mondays
    values = _local_wall_time(values)

    def parse(**how) -> pd.Series:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
            return pd.to_datetime(values, errors="coerce", utc=True, **how).dt.tz_localize(None)

    iso = parse(format="ISO8601")
    if iso.notna().sum() * 2 > values.notna().sum():   # an ISO column; the rest are bad dates
        return iso
    month_first, day_first = parse(), parse(dayfirst=True)
    # A 13th day settles the order for the whole column: one reading fails on it.
    if month_first.isna().sum() != day_first.isna().sum():
        return min(month_first, day_first, key=lambda dates: dates.isna().sum())
    ambiguous = month_first.notna() & day_first.notna() & (month_first != day_first)
    if ambiguous.any():
        raise UnusableInputError(
            f"{source}: ds values such as {values[ambiguous].iloc[0]!r} read differently "
            "day-first and month-first; write dates as YYYY-MM-DD")
    return month_first


_ISO_WEEK = r"^\s*(\d{4})-?W(\d{2})\s*$"


def _sample(text: pd.Series) -> pd.Series:
    """About 1000 evenly spaced non-missing values: enough to tell a column's format."""
    return text.iloc[::max(1, len(text) // 1000)].dropna().astype(str)


def _iso_week_mondays(text: pd.Series) -> pd.Series | None:
    """ISO week labels (2025-W14, StyleCast's own week key) as the Monday starting each week.

    None unless most of a sample are such labels. A week its year does not have (2021-W53)
    is no date: pandas would silently roll it into the next year's first week.
    """
    sample = _sample(text)
    if sample.empty or sample.str.match(_ISO_WEEK).sum() * 2 <= len(sample):
        return None
    labels = text.astype("string").str.replace(_ISO_WEEK, r"\1-W\2", regex=True)
    mondays = pd.to_datetime(labels + "-1", format="%G-W%V-%u", errors="coerce")
    parsed = mondays.notna()
    same_week = pd.Series(False, index=text.index)
    same_week[parsed] = (iso_weeks(mondays[parsed]) == labels[parsed]).to_numpy(bool)
    return mondays.where(same_week)


def _local_wall_time(text: pd.Series) -> pd.Series:
    """Drop UTC offsets: a period label means the writer's local date.

    2020-06-01T00:00+02:00 is June; converted to UTC it would be 31 May, 22:00, and the
    series a month-end calendar. The (costly) rewrite runs only if a sample has offsets.
    """
    if not any(re.search(_UTC_OFFSET, value.strip()) for value in _sample(text)):
        return text
    return text.astype("string").str.strip().str.replace(_UTC_OFFSET, r"\1", regex=True)


def _drop_bad_values(df: pd.DataFrame, shares: bool, problems: _Problems) -> pd.DataFrame:
    no_id = df["unique_id"].isna()
    if no_id.any():
        problems.add([""], "missing_id", "rejected",
                     f"{no_id.sum()} row(s) have no unique_id and were left out")
        df = df[~no_id]
    bad_date = df.loc[df["ds"].isna(), "unique_id"].unique()
    problems.add(bad_date, "bad_date", "rejected", "series {uid}: a ds value is not a date")
    non_finite = df.loc[~np.isfinite(df["y"]), "unique_id"].unique()
    problems.add(non_finite, "non_finite", "rejected",
                 "series {uid}: y has NaN, inf or non-numeric values")
    bad = set(bad_date) | set(non_finite)
    if shares:
        outside = df.loc[(df["y"] < 0) | (df["y"] > 1), "unique_id"].unique()
        outside = [u for u in outside if u not in bad]
        problems.add(outside, "not_a_share", "rejected",
                     "series {uid}: shares must lie in [0, 1]; found negative or > 1 values")
        bad |= set(outside)
    return df[~df["unique_id"].isin(bad)]


def _drop_duplicates(df: pd.DataFrame, problems: _Problems) -> pd.DataFrame:
    """Exact repeats collapse; the same date with two different values is ambiguous."""
    df = df.drop_duplicates(["unique_id", "ds", "y"])
    clash = df.loc[df.duplicated(["unique_id", "ds"], keep=False), "unique_id"].unique()
    problems.add(clash, "duplicate_ds", "rejected",
                 "series {uid}: the same ds appears with different y values")
    return df[~df["unique_id"].isin(clash)].sort_values(["unique_id", "ds"], ignore_index=True)


def _infer_frequency(df: pd.DataFrame, source: str) -> str:
    counts: dict[str, int] = {}
    for _, dates in df.groupby("unique_id")["ds"]:
        freq = frequency.infer(dates)
        if freq:
            counts[freq] = counts.get(freq, 0) + 1
    if not counts:
        raise UnusableInputError(f"{source}: cannot infer a regular frequency from the dates; "
                                 "pass --freq (e.g. MS, W-MON, D)")
    return frequency.check(max(counts, key=counts.__getitem__))


def _regular_dates(df: pd.DataFrame, freq: str, gaps: str, problems: _Problems) -> pd.DataFrame:
    """Every date must sit on the calendar; missing periods are filled or the series rejected."""
    aligned = df["ds"] == (df["ds"] + pd.tseries.frequencies.to_offset(freq)
                           - pd.tseries.frequencies.to_offset(freq))
    off_calendar = df.loc[~aligned, "unique_id"].unique()
    problems.add(off_calendar, "irregular_dates", "rejected",
                 "series {uid}: dates do not fall on the " + freq + " calendar")
    df = df[~df["unique_id"].isin(off_calendar)]
    if df.empty:
        return df
    period = frequency.period_index(df["ds"], freq)
    step = np.diff(period)
    new_series = np.r_[True, df["unique_id"].to_numpy()[1:] != df["unique_id"].to_numpy()[:-1]]
    gap_after = np.r_[step > 1, False] & ~np.r_[new_series[1:], True]
    gappy = df.loc[gap_after, "unique_id"].unique()
    if gaps == "reject":
        problems.add(gappy, "gaps", "rejected", "series {uid}: missing periods "
                     "(use --gaps zero or --gaps interpolate to fill them)")
        return df[~df["unique_id"].isin(gappy)]
    filled = [_fill(g, freq, gaps) if uid in set(gappy) else g
              for uid, g in df.groupby("unique_id", sort=False)]
    problems.add(gappy, "gaps", "filled", f"series {{uid}}: missing periods filled ({gaps})")
    return pd.concat(filled, ignore_index=True) if filled else df


def _note_early_ends(df: pd.DataFrame, freq: str, problems: _Problems) -> None:
    """Name the series whose data stop before the panel's (a discontinued item, a late feed).

    They are still forecast, from their own last date, as the models do; the note keeps their
    forecasts and trend calls, which cover earlier periods than the rest, from passing for
    current ones.
    """
    last = df.groupby("unique_id")["ds"].max()
    periods = frequency.period_index(last, freq)
    behind = periods.max() - periods
    for uid, lag in zip(last.index, behind, strict=True):
        if lag > 0:
            problems.add([uid], "ended_early", "kept",
                         f"series {{uid}}: its data end {last[uid].date()}, {lag} "
                         f"period(s) before the panel's; forecast from its own end")


def _fill(group: pd.DataFrame, freq: str, how: str) -> pd.DataFrame:
    full = pd.date_range(group["ds"].iloc[0], group["ds"].iloc[-1], freq=freq)
    y = group.set_index("ds")["y"].reindex(full)
    y = y.fillna(0.0) if how == "zero" else y.interpolate()
    return pd.DataFrame({"unique_id": group["unique_id"].iloc[0], "ds": full, "y": y.to_numpy()})


def _split_fallback(df: pd.DataFrame, season_length: int,
                    problems: _Problems) -> tuple[pd.DataFrame, pd.DataFrame]:
    stats = df.groupby("unique_id")["y"].agg(["size", "min", "max"])
    short = stats.index[stats["size"] < 2 * season_length]
    constant = stats.index[(stats["min"] == stats["max"]) & (stats["size"] >= 2 * season_length)]
    problems.add(short, "short_series", "fallback",
                 f"series {{uid}}: fewer than two seasons ({2 * season_length} values); "
                 "forecast by window_average")
    problems.add(constant, "constant_series", "fallback",
                 "series {uid}: constant (or all zero); forecast by window_average, no MASE")
    to_fallback = df["unique_id"].isin(set(short) | set(constant))
    return df[~to_fallback].reset_index(drop=True), df[to_fallback].reset_index(drop=True)


def _reason_summary(problems: pd.DataFrame) -> str:
    if problems.empty:
        return "no rows"
    counts = problems.groupby("reason").size()
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())
