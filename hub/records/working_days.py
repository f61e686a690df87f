"""Working days in England and Wales: weekends and bank holidays excluded (a pure module).

Bank holidays are computed from the statutory pattern (Banking and Financial Dealings Act 1971
and the annual proclamations): New Year's Day, Good Friday, Easter Monday, the early May, spring
and summer bank holidays, Christmas Day and Boxing Day, with substitute weekdays when a fixed
date falls at a weekend. One-off changes made by proclamation are listed in `ONE_OFF_CHANGES`;
every date there was checked against https://www.gov.uk/bank-holidays (and its JSON,
https://www.gov.uk/bank-holidays.json, "england-and-wales").
"""

from __future__ import annotations

import functools
from datetime import date, timedelta

MONDAY, SATURDAY, SUNDAY = 0, 5, 6

#: Years in which a proclamation moved or added bank holidays: year -> (removed, added).
#: Source: https://www.gov.uk/bank-holidays (past years listed there and in its JSON feed).
ONE_OFF_CHANGES: dict[int, tuple[frozenset[date], frozenset[date]]] = {
    # Millennium: an extra bank holiday on Friday 31 December 1999.
    1999: (frozenset(), frozenset({date(1999, 12, 31)})),
    # Golden Jubilee: spring bank holiday moved from 27 May to 4 June, extra on 3 June.
    2002: (frozenset({date(2002, 5, 27)}), frozenset({date(2002, 6, 3), date(2002, 6, 4)})),
    # Royal wedding: an extra bank holiday on Friday 29 April 2011.
    2011: (frozenset(), frozenset({date(2011, 4, 29)})),
    # Diamond Jubilee: spring bank holiday moved from 28 May to 4 June, extra on 5 June.
    2012: (frozenset({date(2012, 5, 28)}), frozenset({date(2012, 6, 4), date(2012, 6, 5)})),
    # 75th anniversary of VE Day: early May bank holiday moved from Monday 4 May to Friday 8 May.
    2020: (frozenset({date(2020, 5, 4)}), frozenset({date(2020, 5, 8)})),
    # Platinum Jubilee: spring bank holiday moved from 30 May to Thursday 2 June, extra on
    # Friday 3 June; the State Funeral of Queen Elizabeth II on Monday 19 September.
    2022: (
        frozenset({date(2022, 5, 30)}),
        frozenset({date(2022, 6, 2), date(2022, 6, 3), date(2022, 9, 19)}),
    ),
    # Coronation of King Charles III: an extra bank holiday on Monday 8 May 2023.
    2023: (frozenset(), frozenset({date(2023, 5, 8)})),
}


def easter_sunday(year: int) -> date:
    """Easter Day in the Gregorian calendar (the anonymous Gregorian algorithm, "Computus")."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _first_monday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(MONDAY - first.weekday()) % 7)


def _last_monday(year: int, month: int) -> date:
    following = date(year + month // 12, month % 12 + 1, 1)
    last = following - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - MONDAY) % 7)


def _next_weekday(d: date) -> date:
    while d.weekday() >= SATURDAY:
        d += timedelta(days=1)
    return d


@functools.cache
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays in `year`, substitute days and one-off changes included."""
    days = set()
    # New Year's Day, or the Monday after it when it falls at a weekend.
    days.add(_next_weekday(date(year, 1, 1)))
    easter = easter_sunday(year)
    days.add(easter - timedelta(days=2))  # Good Friday
    days.add(easter + timedelta(days=1))  # Easter Monday
    if year >= 1978:  # the early May bank holiday was first held in 1978
        days.add(_first_monday(year, 5))
    days.add(_last_monday(year, 5))  # spring bank holiday
    days.add(_last_monday(year, 8))  # summer bank holiday
    # Christmas Day and Boxing Day each take the next weekday not already a holiday, in order:
    # Christmas on a Saturday gives Monday 27 and Tuesday 28; on a Sunday, Boxing Day keeps
    # Monday 26 and Christmas moves to Tuesday 27; Boxing Day on a Saturday moves to Monday 28.
    christmas, boxing = date(year, 12, 25), date(year, 12, 26)
    if christmas.weekday() == SUNDAY:
        days.update({boxing, date(year, 12, 27)})
    else:
        first = _next_weekday(christmas)
        second = _next_weekday(max(boxing, first + timedelta(days=1)))
        days.update({first, second})
    removed, added = ONE_OFF_CHANGES.get(year, (frozenset(), frozenset()))
    return frozenset((days - removed) | added)


def is_bank_holiday(d: date) -> bool:
    """True on an England and Wales bank holiday (including substitute days)."""
    return d in bank_holidays(d.year)


def is_working_day(d: date) -> bool:
    """Monday to Friday, and not a bank holiday in England and Wales."""
    return d.weekday() < SATURDAY and not is_bank_holiday(d)


def add_working_days(start: date, n: int) -> date:
    """The n-th working day after `start` (exactly n working days lie in (start, result])."""
    if n < 1:
        raise ValueError("n must be at least 1")
    d = start
    remaining = n
    while remaining:
        d += timedelta(days=1)
        if is_working_day(d):
            remaining -= 1
    return d


def working_days_between(start: date, end: date) -> int:
    """How many working days lie in (start, end]."""
    count = 0
    d = start
    while d < end:
        d += timedelta(days=1)
        count += is_working_day(d)
    return count
