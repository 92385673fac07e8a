"""Frequencies: infer or check them, number periods, and step dates forward.

Only regular calendars are accepted (daily, weekly on a fixed weekday, month or quarter
starts/ends): a trend series with an irregular clock cannot be forecast step by step.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from pipeline.core.errors import UnusableInputError

_MONTHS_PER_PERIOD = {"M": 1, "Q": 3, "Y": 12, "A": 12}
_DAYS_PER_PERIOD = {"D": 1, "W": 7}


def _offset(freq: str):
    with warnings.catch_warnings():  # pandas warns about case before it rejects nonsense
        warnings.simplefilter("ignore", FutureWarning)
        return to_offset(freq)


def _family(freq: str) -> str:
    base = _offset(freq).name.split("-")[0].upper()
    for family in ("MS", "ME", "QS", "QE", "YS", "YE"):
        if base.startswith(family):
            return family[0]
    return base[:1]


def check(freq: str) -> str:
    """Normalise a user-given frequency or stop with a one-line error."""
    try:
        family = _family(freq)
    except ValueError:
        raise UnusableInputError(f"unknown frequency {freq!r} (examples: MS, W-MON, D)") from None
    if family not in _MONTHS_PER_PERIOD and family not in _DAYS_PER_PERIOD:
        raise UnusableInputError(f"frequency {freq!r} is not supported (use D, W-*, MS, QS, YS)")
    return _offset(freq).freqstr


def infer(dates: pd.Series) -> str | None:
    """The frequency of one series' sorted dates, or None when it has no regular clock."""
    if len(dates) < 3:
        return None
    dates = pd.DatetimeIndex(dates)
    return pd.infer_freq(dates) or _calendar_with_gaps(dates)


def _calendar_with_gaps(dates: pd.DatetimeIndex) -> str | None:
    """The finest calendar every date sits on, stepping mostly one period at a time.

    pandas' ``infer_freq`` needs every period present, so one missing month would leave a
    monthly series without a clock, and ``--gaps`` could never fill it.
    """
    first = dates[0]
    month = first.strftime("%b").upper()
    candidates = ("D", f"W-{first.strftime('%a').upper()}", "MS", "ME",
                  f"QS-{month}", f"QE-{month}", f"YS-{month}", f"YE-{month}")
    for freq in candidates:
        offset = _offset(freq)
        if not ((dates == dates.normalize()) & (dates == dates + offset - offset)).all():
            continue
        steps = np.diff(period_index(dates, freq))
        if (steps > 0).all() and np.median(steps) == 1:
            return offset.freqstr
    return None


def period_index(dates: pd.Series | pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Integer period numbers: consecutive periods differ by one; used for seasons and gaps."""
    dates = pd.DatetimeIndex(dates)
    family, multiple = _family(freq), _offset(freq).n   # 2 for fortnightly "2W-MON"
    if family in _MONTHS_PER_PERIOD:
        months = dates.year.to_numpy() * 12 + dates.month.to_numpy() - 1
        return months // (_MONTHS_PER_PERIOD[family] * multiple)
    days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    return (days if family == "D" else (days + 3) // 7) // multiple


def future_dates(last: pd.Timestamp, h: int, freq: str) -> pd.DatetimeIndex:
    return pd.date_range(last, periods=h + 1, freq=freq)[1:]
