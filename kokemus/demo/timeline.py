"""A scenario's history as arrays: steps add events for many customers at once, and the
timeline turns them into one Arrow table in the event store's schema.

Times are whole seconds since the epoch (UTC) in int64 arrays until the very end, so a step
is a few numpy operations whatever the number of customers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kokemus.storage.events import SCHEMA

HELSINKI = ZoneInfo("Europe/Helsinki")
MINUTE = 60
HOUR = 3600
DAY = 86_400

Ints = np.ndarray  # int64 arrays: customer indices, seconds, codes

# Relative weight of the local hour in which people start something: evenings for shopping,
# office hours for business, any hour for devices.
EVENING = np.array([0, 0, 0, 0, 0, 0, 1, 3, 4, 5, 5, 5, 6, 6, 6, 6, 7, 8, 9, 10, 10, 8, 4, 1],
                   dtype=float)
OFFICE = np.array([0, 0, 0, 0, 0, 0, 1, 4, 8, 9, 9, 7, 6, 8, 9, 8, 6, 3, 1, 1, 0, 0, 0, 0],
                  dtype=float)
ANY_HOUR = np.ones(24)
_PAD_DAYS = 7
_AHEAD_DAYS = 400  # journeys started in the period may run this far past its end


@dataclass(frozen=True)
class Period:
    """The days of history: [start, end) in UTC seconds, with Helsinki's UTC offset per day."""

    start: int
    end: int
    days: int
    offsets: Ints = field(repr=False)

    @classmethod
    def ending(cls, end: date, days: int) -> Period:
        stop = datetime(end.year, end.month, end.day, tzinfo=UTC)
        first = stop - timedelta(days=days)
        # One offset per day is exact enough: the clock changes at 03:00/04:00 local time,
        # outside the daytime hours the generator uses.
        offsets = [
            int((first + timedelta(days=d - _PAD_DAYS, hours=12)).astimezone(HELSINKI)
                .utcoffset().total_seconds())  # type: ignore[union-attr]
            for d in range(days + _PAD_DAYS + _AHEAD_DAYS)
        ]
        return cls(int(first.timestamp()), int(stop.timestamp()), days,
                   np.array(offsets, dtype=np.int64))

    def offset(self, t: Ints) -> Ints:
        day = np.clip((t - self.start) // DAY + _PAD_DAYS, 0, len(self.offsets) - 1)
        return self.offsets[day]  # type: ignore[no-any-return]

    def starts(self, rng: np.random.Generator, n: int, hours: np.ndarray = EVENING, *,
               within: tuple[float, float] = (0.0, 1.0), weekend: float = 1.0) -> Ints:
        """`n` local start times: a day in the given fraction of the period (weekend days
        weighted by `weekend`), an hour by the `hours` weights, a random minute and second."""
        first = int(self.days * within[0])
        last = max(first + 1, int(self.days * within[1]))
        day = np.arange(first, last)
        weekday = (np.datetime64(datetime.fromtimestamp(self.start, UTC).date())
                   + day).astype("datetime64[D]").astype(np.int64)
        weights = np.where((weekday + 3) % 7 >= 5, weekend, 1.0)  # 1970-01-01 was a Thursday
        chosen = rng.choice(day, size=n, p=weights / weights.sum())
        hour = rng.choice(24, size=n, p=hours / hours.sum())
        midnight = self.start + chosen * DAY
        t = midnight - self.offset(midnight) + hour * HOUR + rng.integers(0, HOUR, n)
        return np.maximum(t, self.start)  # type: ignore[no-any-return]

    def on_day(self, rng: np.random.Generator, t: Ints, hours: np.ndarray = EVENING) -> Ints:
        """A time on the local day of each `t`, at an hour drawn by the `hours` weights."""
        local = t + self.offset(t)
        hour = rng.choice(24, size=len(t), p=hours / hours.sum())
        moved = local - local % DAY + hour * HOUR + rng.integers(0, HOUR, len(t))
        return moved - self.offset(moved)  # type: ignore[no-any-return]

    def daytime(self, rng: np.random.Generator, t: Ints, opens: int = 8,
                closes: int = 21) -> Ints:
        """Push times outside local opening hours to the next opening, plus up to two hours:
        people and warehouses act by day. Times only move forward, so order is kept."""
        local = t + self.offset(t)
        second = local % DAY
        early = second < opens * HOUR
        late = second >= closes * HOUR
        moved = (local - second + np.where(late, DAY, 0) + opens * HOUR
                 + rng.integers(0, 2 * HOUR, len(t)))
        return np.where(early | late, moved - self.offset(moved), t)


def uniform(rng: np.random.Generator, low: float, high: float, n: int) -> Ints:
    """Whole seconds drawn evenly from [low, high)."""
    return rng.integers(int(low), int(high), n).astype(np.int64)


@dataclass(frozen=True, eq=False)  # arrays have no single truth value to compare by
class Labels:
    """A categorical value per event: indices into a few names."""

    names: Sequence[str]
    index: Ints

    def take(self, rows: Ints) -> Labels:
        return Labels(self.names, self.index[rows])

    def of(self, name: str) -> np.ndarray:
        """Mask of the events labelled `name`."""
        return self.index == list(self.names).index(name)  # type: ignore[no-any-return]


def pick(rng: np.random.Generator, names: Sequence[str], weights: Sequence[float],
         n: int) -> Labels:
    p = np.asarray(weights, dtype=float)
    return Labels(names, rng.choice(len(names), size=n, p=p / p.sum()))


def _labels(labels: Labels, quoted: bool) -> pa.Array:
    names = [json.dumps(name) if quoted else name for name in labels.names]
    codes = pa.array(labels.index.astype(np.int32))
    return pa.DictionaryArray.from_arrays(codes, pa.array(names, pa.string())).cast(pa.string())


def properties(**fields: Labels | np.ndarray | pa.Array) -> pa.Array:
    """JSON objects built column-wise: labels and Arrow strings (identifiers, nothing to
    escape) become JSON strings, numbers and booleans stay."""
    parts: list[pa.Array] = []
    for i, (key, value) in enumerate(fields.items()):
        if isinstance(value, Labels):
            text = _labels(value, quoted=True)
        elif isinstance(value, pa.Array):
            text = pc.binary_join_element_wise('"', value, '"', "")
        else:
            text = pc.cast(pa.array(value), pa.string())
        prefix = ("{" if i == 0 else ", ") + json.dumps(key) + ": "
        parts.append(pc.binary_join_element_wise(prefix, text, ""))
    return pc.binary_join_element_wise(*parts, "}", "")


@dataclass
class _Step:
    type: int
    who: Ints
    at: Ints
    channel: Ints
    account: Ints | None
    properties: pa.Array | None


class Timeline:
    """The events of one block of customers, step by step."""

    def __init__(self, period: Period) -> None:
        self.period = period
        self.types: list[str] = []
        self.channels: list[str] = []
        self._steps: list[_Step] = []
        self._position: Ints | None = None  # per added event: its row in the table, or -1

    def _code(self, names: list[str], name: str) -> int:
        if name not in names:
            names.append(name)
        return names.index(name)

    def add(self, type: str, who: Ints, at: Ints, channel: str | Labels, *,
            account: Ints | None = None, props: pa.Array | None = None) -> int:
        """Events of one type: customer index, time and channel per event; returns the step's
        number, by which `rows_in_table` finds its events once the table is built."""
        if isinstance(channel, Labels):
            codes = np.array([self._code(self.channels, c) for c in channel.names])
            channel_codes = codes[channel.index]
        else:
            channel_codes = np.full(len(who), self._code(self.channels, channel))
        self._steps.append(_Step(self._code(self.types, type), np.asarray(who, np.int64),
                                 np.asarray(at, np.int64), channel_codes, account, props))
        return len(self._steps) - 1

    def __len__(self) -> int:
        return sum(len(s.who) for s in self._steps)

    def table(self, workspace_id: int, customers: pa.Array, accounts: pa.Array | None,
              touchpoint_for_event: Mapping[str, str]) -> pa.Table:
        """Events inside the period, ordered by (customer, time, step); the event id is the
        customer id and the event's number in that customer's history, so the same seed
        gives the same ids."""
        steps = self._steps
        who = np.concatenate([s.who for s in steps])
        at = np.concatenate([s.at for s in steps])
        step = np.concatenate([np.full(len(s.who), i) for i, s in enumerate(steps)])
        kind = np.concatenate([np.full(len(s.who), s.type) for s in steps])
        channel = np.concatenate([s.channel for s in steps])
        account = np.concatenate([s.account if s.account is not None
                                  else np.full(len(s.who), -1) for s in steps])
        props = pa.concat_arrays([s.properties if s.properties is not None
                                  else pa.nulls(len(s.who), pa.string()) for s in steps])

        inside = np.flatnonzero((at >= self.period.start) & (at < self.period.end))
        order = inside[np.lexsort((step[inside], at[inside], who[inside]))]
        who, at, kind = who[order], at[order], kind[order]
        n = len(order)
        self._position = np.full(len(step), -1, np.int64)
        self._position[order] = np.arange(n)
        first = np.r_[True, who[1:] != who[:-1]] if n else np.zeros(0, bool)
        number = np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0)) + 1

        customer = customers.take(pa.array(who))
        ids = pc.binary_join_element_wise(
            customer, pc.utf8_lpad(pc.cast(pa.array(number), pa.string()), 2, "0"), "-")
        tp_names = sorted(set(touchpoint_for_event.values()))
        tp_code = np.array([tp_names.index(touchpoint_for_event[t])
                            if t in touchpoint_for_event else -1 for t in self.types])
        tp = tp_code[kind]
        account = account[order]
        no_account = account < 0
        return pa.table(
            {
                "workspace_id": pa.array(np.full(n, workspace_id, np.int32)),
                "id": ids,
                "type": _labels(Labels(self.types, kind), quoted=False),
                "customer": customer,
                "account": (accounts.take(pa.array(np.where(no_account, 0, account),
                                                   mask=no_account))
                            if accounts is not None else pa.nulls(n, pa.string())),
                "channel": _labels(Labels(self.channels, channel[order]), quoted=False),
                "touchpoint": pa.DictionaryArray.from_arrays(
                    pa.array(np.where(tp < 0, 0, tp).astype(np.int32), mask=tp < 0),
                    pa.array(tp_names or [""], pa.string())).cast(pa.string()),
                "occurred_at": pa.array(at * 1_000_000, pa.timestamp("us", tz="UTC")),
                "properties": props.take(pa.array(order)),
            },
            schema=SCHEMA,
        )


    def rows_in_table(self, step: int, rows: Ints) -> Ints:
        """Where events `rows` of step `step` are in the built table (-1: outside the period)."""
        if self._position is None:
            raise RuntimeError("build the table first")
        first = sum(len(s.who) for s in self._steps[:step])
        return self._position[first + np.asarray(rows, np.int64)]


def numbered(prefix: str, first: int, n: int, width: int = 6) -> pa.Array:
    """Identifiers like kodinkone-000123 for indices first .. first+n-1."""
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(first, first + n)), pa.string()),
                          width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")
