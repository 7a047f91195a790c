"""Cron expressions, read the way Vixie cron reads them, and their ticks in a time zone.

Five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec),
day of week (0-7 or sun-sat; 0 and 7 are Sunday). Each field is `*`, a value, a range
`a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to the field's end), or a comma list of
those. When both the day of month and the day of week are restricted (neither is `*`), a
day matches if either does, as in Vixie cron. `@hourly`, `@daily` (`@midnight`), `@weekly`,
`@monthly` and `@yearly` (`@annually`) stand for their usual expressions.

A schedule is read in the workspace's time zone, on the wall clock: `0 9 * * 1-5` is 9:00
in Helsinki whatever the offset. Around a change of the offset:
- a wall time that does not exist (spring forward: 03:00-03:59 in Helsinki on the last
  Sunday of March) ticks at the first minute after the gap (04:00), once;
- a wall time that happens twice (fall back: 03:00-03:59 on the last Sunday of October)
  ticks at its first occurrence only: a tick is named by its wall time (`tick_id`), and a
  name fires once.

Plain Python with no I/O: a tick is found by walking UTC minutes, which is what a run of
the rule engine covers (seconds to minutes) and what a 30-day preview costs (~43,000 steps).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names for values from `lowest` on)
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the values each field allows."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday ... 6 = Saturday
    any_day: bool  # day of month is `*`
    any_weekday: bool  # day of week is `*`

    def matches(self, wall: datetime) -> bool:
        """Does this wall-clock minute (naive, local) match?"""
        if (wall.minute not in self.minutes or wall.hour not in self.hours
                or wall.month not in self.months):
            return False
        day = wall.day in self.days
        weekday = (wall.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday


def parse(text: str) -> Cron:
    """The expression in `text`; ValueError naming the field and what is wrong."""
    expression = _MACROS.get(text.strip().lower(), text)
    parts = expression.split()
    if len(parts) != 5:
        raise ValueError(f"'{text}' is not a cron expression: it needs five fields (minute, "
                         "hour, day of month, month, day of week), e.g. '0 9 * * 1-5'")
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(v % 7 for v in values[4])
    return Cron(text, frozenset(values[0]), frozenset(values[1]), frozenset(values[2]),
                frozenset(values[3]), weekdays, parts[2] == "*", parts[4] == "*")


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    found: set[int] = set()
    for item in text.lower().split(","):
        if not item:
            raise ValueError(f"cron {name}: an empty item in '{text}'")
        body, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {name}: the step in '{item}' must be a whole number "
                                 "above 0")
            step = int(step_text)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            a, _, b = body.partition("-")
            first, last = _value(a, name, low, high, names), _value(b, name, low, high, names)
            if first > last:
                raise ValueError(f"cron {name}: the range '{body}' runs backwards")
        else:
            first = _value(body, name, low, high, names)
            last = high if step_text else first
        found.update(range(first, last + 1, step))
    return found


def _value(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if text in names:
        return names.index(text) + (1 if names is _MONTHS else 0)
    if not text.isdigit():
        raise ValueError(f"cron {name}: '{text}' is not a number from {low} to {high}"
                         + (f" or a name ({names[0]}-{names[-1]})" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"cron {name}: {value} is outside {low}-{high}")
    return value


def tick_id(wall: datetime) -> str:
    """A tick's name: its wall-clock minute, e.g. `2026-03-29T03:30`."""
    return wall.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class Tick:
    wall: datetime  # the wall-clock minute the expression names (naive, local)
    at: datetime  # the moment it ticks (UTC): that minute, or the end of a gap it fell in

    @property
    def id(self) -> str:
        return tick_id(self.wall)


def ticks(cron: Cron, zone: str, after: datetime, until: datetime) -> Iterator[Tick]:
    """The ticks in (after, until], oldest first, each wall time once (see the module)."""
    tz = ZoneInfo(zone)
    minute = _floor(after) + MINUTE
    end = _floor(until)
    seen: set[datetime] = set()
    before = _wall(minute - MINUTE, tz)
    while minute <= end:
        wall = _wall(minute, tz)
        if wall - before > MINUTE:  # a gap: every wall minute skipped ticks now
            covered = [before + MINUTE * k for k in range(1, (wall - before) // MINUTE + 1)]
        else:
            covered = [wall]
        for candidate in covered:
            if candidate not in seen and cron.matches(candidate):
                seen.add(candidate)
                yield Tick(candidate, minute)
        before = wall
        minute += MINUTE


def latest(cron: Cron, zone: str, after: datetime, until: datetime) -> tuple[Tick | None, int]:
    """The newest tick in (after, until] and how many older ones it passes over."""
    found = list(ticks(cron, zone, after, until))
    return (found[-1] if found else None), max(len(found) - 1, 0)


def _floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None)
