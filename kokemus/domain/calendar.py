"""Times and days from outside stay inside the calendar Python and the stores can count in.

Python's datetime ends at 9999-12-31 and starts at 0001-01-01: a time at either edge
overflows when it is moved to UTC (a zone up to 14 hours away) or when a day is added to
close a period. Every time or day a person or a client gives (API parameters, page filters,
periods) is therefore between 0001-01-02 and 9999-12-30, which leaves room for any time
zone and for the day after; outside that range it is refused with a reason, never an
OverflowError.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

FIRST_DAY = date(1, 1, 2)
LAST_DAY = date(9999, 12, 30)
OUTSIDE = f"outside the calendar: between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"

# The longest span a window, a delay or an idle time may have: a hundred years, in seconds.
# Longer spans mean nothing for a customer journey and overflow the engines' intervals.
LONGEST_SECONDS = 100 * 365 * 86400.0


def in_calendar(moment: datetime) -> bool:
    return FIRST_DAY <= moment.date() <= LAST_DAY


def day(text: str) -> date:
    """A YYYY-MM-DD day inside the calendar; ValueError saying why otherwise."""
    parsed = date.fromisoformat(text.strip())
    if not FIRST_DAY <= parsed <= LAST_DAY:
        raise ValueError(f"'{text}' is {OUTSIDE}")
    return parsed


def day_start(moment: date) -> datetime:
    return datetime.combine(moment, datetime.min.time(), UTC)


def day_end(moment: date) -> datetime:
    """The start of the day after: a period's exclusive end."""
    return day_start(moment + timedelta(days=1))


def period(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Whole days from `first` to `last`, both included, as [start, end) moments in UTC."""
    return (day_start(first) if first else None), (day_end(last) if last else None)


def _moment(value: datetime) -> datetime:
    if not in_calendar(value):
        raise PydanticCustomError("calendar", OUTSIDE)
    return value


Moment = Annotated[datetime, AfterValidator(_moment)]
"""A time in a request: any ISO 8601 time inside the calendar."""
