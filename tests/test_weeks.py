"""ISO-week keys, the partition key of every weekly dataset."""

from datetime import date

import pandas as pd
import pytest

from pipeline.core.weeks import (
    day_month_ambiguous,
    iso_week,
    iso_weeks,
    parse_week,
    to_utc,
    week_starts,
)


def test_iso_week_round_trip_across_a_year_boundary():
    assert iso_week(date(2024, 12, 30)) == "2025-W01"  # a Monday that belongs to next year
    assert iso_week(date(2021, 1, 3)) == "2020-W53"
    assert parse_week("2025-W01") == date(2024, 12, 30)
    assert iso_weeks(pd.Series(pd.to_datetime(["2024-12-30", "2021-01-03"]))).tolist() == [
        "2025-W01", "2020-W53"]


@pytest.mark.parametrize("key", ["2025-14", "2025-W54", "W14", "2025-w14"])
def test_parse_week_rejects_what_is_not_a_week(key):
    with pytest.raises(ValueError, match="not an ISO week"):
        parse_week(key)


def test_week_starts_are_consecutive_mondays():
    assert week_starts(date(2025, 4, 3), 3) == [date(2025, 3, 31), date(2025, 4, 7),
                                                 date(2025, 4, 14)]


def test_to_utc_parses_mixed_formats_and_marks_garbage():
    parsed = to_utc(pd.Series(["2025-04-02", "2025-04-02T10:00:00+02:00", "soon"]))
    assert parsed.iloc[1] == pd.Timestamp("2025-04-02T08:00:00Z")
    assert pd.isna(parsed.iloc[2])


def test_only_dates_whose_day_and_month_could_swap_are_ambiguous():
    values = pd.Series(["01/02/2025", "13/02/2025", "02/13/2025", "01/01/2025",
                        "2025-01-02", "01.02.2025 10:00", "soon", None])
    assert day_month_ambiguous(values).tolist() == [True, False, False, False,
                                                   False, True, False, False]
