"""Business hours: the working time a promise like "answered within one working day" counts.

A workspace's calendar is its opening hours per weekday in its time zone, minus public
holidays (Finland's by default, from the `holidays` package) and days it names as closed.
Working time is counted as a clock that runs only while the business is open: `elapsed`
between two moments is the working seconds between them, and `deadline` the moment a given
amount of working time has passed. The engines count the same way from `days`, a table of
UTC days with the working time before each (see analytics/promises.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator

from kokemus.domain.promises import Model

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_DAY = 86400


def _opening(text: str) -> str:
    match = _HOURS.match(text.strip())
    if not match or (int(match.group(3)) == 24 and match.group(4) != "00"):
        raise ValueError(f"'{text}' is not opening hours; write e.g. 08:00-16:00")
    opens, closes = _span(text)
    if closes <= opens:
        raise ValueError(f"'{text}' closes before it opens")
    return text.strip()


def _span(text: str) -> tuple[int, int]:
    """Seconds after midnight at which the business opens and closes."""
    a, b = text.strip().split("-")
    return (int(a[:2]) * 3600 + int(a[3:]) * 60, int(b[:2]) * 3600 + int(b[3:]) * 60)


Opening = Annotated[str, AfterValidator(_opening)]


def _weekdays() -> dict[str, str]:
    return dict.fromkeys(WEEKDAYS[:5], "08:00-16:00")


class BusinessHours(Model):
    timezone: str = Field(default="Europe/Helsinki", description="IANA time zone.")
    hours: dict[str, Opening] = Field(
        default_factory=_weekdays,
        description="Opening hours per weekday (mon..sun); a day left out is closed.")
    holidays: str | None = Field(
        default="FI", pattern="^[A-Z]{2}$",
        description="Country whose public holidays are closed (ISO code), or null.")
    closed: list[date] = Field(default_factory=list, max_length=366,
                               description="Other days closed, e.g. 2026-12-31.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (e.g. Europe/Helsinki)") from None
        return value

    @field_validator("hours")
    @classmethod
    def _days(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r} (use {', '.join(WEEKDAYS)})")
        if not value:
            raise ValueError("opening hours need at least one day")
        return value

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in _countries():
            raise ValueError(f"no public holidays known for '{value}'")
        return value

    def open_on(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's opening and closing moments (UTC), or None when it is closed."""
        hours = self.hours.get(WEEKDAYS[day.weekday()])
        if hours is None or day in self.closed or day in _holidays(self.holidays, day.year):
            return None
        zone = ZoneInfo(self.timezone)
        opens, closes = _span(hours)
        midnight = datetime.combine(day, time(), zone)
        return (_local(midnight, opens).astimezone(UTC), _local(midnight, closes).astimezone(UTC))

    def days(self, first: date, last: date) -> list[CalendarDay]:
        """The UTC days from `first` to `last`, each with its open spans (at most two: a
        local day's hours may cross UTC midnight) and the working seconds before the day,
        counted from `first`'s start. Working time from a to b is then
        `worked(b) - worked(a)` with `worked` read off the day of each moment."""
        spans: dict[int, list[tuple[float, float]]] = {}
        # Local days a day before and after: their hours may reach into the UTC range.
        for local in _each(first - timedelta(days=1), last + timedelta(days=1)):
            opened = self.open_on(local)
            if opened is None:
                continue
            a, b = (m.timestamp() for m in opened)
            while a < b:  # cut at UTC midnight
                day_no = int(a // _DAY)
                cut = min(b, (day_no + 1) * _DAY)
                spans.setdefault(day_no, []).append((a, cut))
                a = cut
        out: list[CalendarDay] = []
        before = 0.0
        for d in _each(first, last):
            day_no = (d - date(1970, 1, 1)).days
            own = sorted(spans.get(day_no, []))
            if len(own) > 2:
                raise ValueError("business hours of more than two local days meet in one "
                                 "UTC day")
            out.append(CalendarDay(day_no, before, tuple(own)))
            before += sum(b - a for a, b in own)
        return out

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Working seconds from `start` to `end` (0 when end is not after start)."""
        if end <= start:
            return 0.0
        table = self.days(start.astimezone(UTC).date(), end.astimezone(UTC).date())
        return _worked(table, end.timestamp()) - _worked(table, start.timestamp())

    def deadline(self, start: datetime, seconds: float) -> datetime:
        """The moment `seconds` of working time have passed since `start`."""
        remaining = seconds
        day = start.astimezone(UTC).date()
        moment = start.timestamp()
        for _ in range(3660):  # ten years of days: a limit longer than that is a mistake
            for a, b in self.days(day, day)[0].spans:
                if b <= moment:
                    continue
                a = max(a, moment)
                if b - a >= remaining:
                    return datetime.fromtimestamp(a + remaining, UTC)
                remaining -= b - a
            day += timedelta(days=1)
        raise ValueError("no deadline within ten years: are the opening hours right?")


@dataclass(frozen=True)
class CalendarDay:
    """A UTC day (days since 1970-01-01), the working seconds before it, its open spans as
    (start, end) epoch seconds."""

    day: int
    before: float
    spans: tuple[tuple[float, float], ...]


def _worked(table: list[CalendarDay], moment: float) -> float:
    """Working seconds from the table's first day to `moment`."""
    day = table[int(moment // _DAY) - table[0].day]
    return day.before + sum(max(0.0, min(moment, b) - a) for a, b in day.spans)


def _local(midnight: datetime, seconds: int) -> datetime:
    """`seconds` after a local midnight on the wall clock (24:00 is the next midnight)."""
    if seconds >= _DAY:
        nxt = midnight.date() + timedelta(days=1)
        return datetime.combine(nxt, time(), midnight.tzinfo)
    return midnight.replace(hour=seconds // 3600, minute=seconds % 3600 // 60)


def _each(first: date, last: date) -> Iterator[date]:
    for i in range((last - first).days + 1):
        yield first + timedelta(days=i)


@functools.cache
def _countries() -> frozenset[str]:
    import holidays

    return frozenset(holidays.list_supported_countries())


@functools.lru_cache(maxsize=256)
def _holidays(country: str | None, year: int) -> frozenset[date]:
    if country is None:
        return frozenset()
    import holidays  # imported when a calendar is used: the package is large

    return frozenset(holidays.country_holidays(country, years=year))
