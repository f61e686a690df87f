"""Working days in England and Wales: published bank holidays, and properties of the arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.records import working_days
from hub.records.working_days import (
    add_working_days,
    bank_holidays,
    easter_sunday,
    is_working_day,
    working_days_between,
)

# As published on https://www.gov.uk/bank-holidays (England and Wales).
PUBLISHED = {
    2020: [
        "2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25", "2020-08-31",
        "2020-12-25", "2020-12-28",
    ],
    2021: [
        "2021-01-01", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31", "2021-08-30",
        "2021-12-27", "2021-12-28",
    ],
    2022: [
        "2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02", "2022-06-03",
        "2022-08-29", "2022-09-19", "2022-12-26", "2022-12-27",
    ],
    2023: [
        "2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08", "2023-05-29",
        "2023-08-28", "2023-12-25", "2023-12-26",
    ],
    2024: [
        "2024-01-01", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27", "2024-08-26",
        "2024-12-25", "2024-12-26",
    ],
    2025: [
        "2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25",
        "2025-12-25", "2025-12-26",
    ],
    2026: [
        "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31",
        "2026-12-25", "2026-12-28",
    ],
    2027: [
        "2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30",
        "2027-12-27", "2027-12-28",
    ],
}  # fmt: skip


@pytest.mark.parametrize("year", sorted(PUBLISHED))
def test_bank_holidays_match_the_published_list(year):
    assert sorted(bank_holidays(year)) == [date.fromisoformat(d) for d in PUBLISHED[year]]


@pytest.mark.parametrize(
    ("year", "easter"),
    [(1961, "1961-04-02"), (2000, "2000-04-23"), (2008, "2008-03-23"), (2011, "2011-04-24"),
     (2019, "2019-04-21"), (2038, "2038-04-25"), (2285, "2285-03-22")],
)  # fmt: skip
def test_easter_matches_known_dates_including_the_extremes(year, easter):
    assert easter_sunday(year) == date.fromisoformat(easter)


def test_new_year_on_a_saturday_moves_to_monday_the_third():
    assert date(2028, 1, 3) in bank_holidays(2028)
    assert date(2028, 1, 1) not in bank_holidays(2028)


def test_one_off_changes_replace_the_regular_day():
    assert date(2020, 5, 4) not in bank_holidays(2020)
    assert date(2022, 5, 30) not in bank_holidays(2022)


def test_ten_working_days_skip_easter():
    # Thursday 2 April 2026: Good Friday 3 and Easter Monday 6 April are not counted.
    assert add_working_days(date(2026, 4, 2), 10) == date(2026, 4, 20)


def test_ten_working_days_over_christmas_2026():
    # Friday 18 December: 21-24 Dec (4), 29-31 Dec (3), 4-6 Jan 2027 (3); 1 Jan is a holiday.
    assert add_working_days(date(2026, 12, 18), 10) == date(2027, 1, 6)


def test_submission_at_a_weekend_counts_from_the_next_working_day():
    assert add_working_days(date(2026, 3, 7), 1) == date(2026, 3, 9)


def test_n_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        add_working_days(date(2026, 1, 5), 0)


days = st.dates(min_value=date(1980, 1, 1), max_value=date(2090, 12, 31))
counts = st.integers(min_value=1, max_value=60)


@given(days, counts)
def test_result_is_a_working_day(start, n):
    assert is_working_day(add_working_days(start, n))


@given(days, counts)
def test_result_is_strictly_increasing_in_n(start, n):
    assert add_working_days(start, n) < add_working_days(start, n + 1)


@given(days, counts)
def test_exactly_n_working_days_lie_in_the_interval(start, n):
    result = add_working_days(start, n)
    assert working_days_between(start, result) == n
    # Counted independently of the module's helper, day by day.
    span = (result - start).days
    assert sum(is_working_day(start + timedelta(days=i)) for i in range(1, span + 1)) == n


@given(st.integers(min_value=1980, max_value=2090))
def test_every_year_has_at_least_eight_holidays_on_weekdays(year):
    holidays = bank_holidays(year)
    assert len(holidays) >= 8
    assert all(d.weekday() < 5 and d.year == year for d in holidays)


def test_one_off_years_are_all_documented_with_dates_in_their_year():
    for year, (removed, added) in working_days.ONE_OFF_CHANGES.items():
        assert all(d.year == year for d in removed | added)
