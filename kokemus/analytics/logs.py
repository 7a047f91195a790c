"""Event logs as the analytics see them: one relation of (case_id, activity, ts, seq, ...).

A log is SQL text, so every analysis composes with it inside the engine, and the same text
runs on DuckDB and on Spark (values are written as escaped literals: Spark SQL has no
positional parameters). Events of a workspace give one log (a case is a customer's, or a B2B
account's, way through a journey's touchpoints); a CSV or Parquet file with named case,
activity and timestamp columns gives another (e.g. a public process-mining log).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from kokemus.domain.journeys import Journey

Subject = Literal["customer", "account"]


def literal(value: str | int | float | datetime) -> str:
    """A SQL literal both engines read the same way."""
    if isinstance(value, bool):
        raise TypeError("no boolean literals here")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return f"TIMESTAMP '{stamp.isoformat(sep=' ')}'"
    # A doubled quote reads the same on both engines; a backslash does not (Spark reads it
    # as an escape, DuckDB literally), so it is spelled chr(92), which both read alike.
    quoted = "'" + value.replace("'", "''") + "'"
    if "\\" not in value:
        return quoted
    return "(" + quoted.replace("\\", "' || chr(92) || '") + ")"


# The columns of every log (a source may have more).
LOG_COLUMNS = ("case_id", "activity", "ts", "seq", "channel")


def one_of(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(literal(v) for v in values)})"


@dataclass(frozen=True)
class Ordered:
    """A case-ordered copy of a log's rows (see analytics/ordering.py).

    `table` is the copy, stored in case order with the cases numbered (`case_no`); `stored`
    the log's rows in it, with `case_no` and `place` (the row's place in the table: a copy is
    rebuilt whole, never updated). A copy of the event store also has `touched`, the ids of
    the cases with events after the copy was made (their rows in it are incomplete), and
    `recent`, those cases' rows from the events, numbered after the copy's; `subject` names
    its row in ORDER_STATE."""

    table: str
    stored: str
    touched: str | None = None
    recent: str | None = None
    subject: Subject | None = None

    @property
    def current(self) -> str:
        """The log's rows as they are now: the copy's, except the touched cases', which come
        from the events."""
        if self.touched is None or self.recent is None:
            return self.stored
        return (f"SELECT * FROM ({self.stored}) AS s WHERE case_id NOT IN ({self.touched}) "
                f"UNION ALL {self.recent}")


@dataclass(frozen=True)
class Log:
    """`source` is a SQL relation with columns case_id, activity, ts, seq, channel;
    `ordered`, when known, the same rows in a case-ordered copy.

    Sequence windows go `PARTITION BY {case} ORDER BY {order}` (`window`): case_id and
    (ts, seq) on events as they are; case_no and place on the rows of a case-ordered copy
    (`on_copy`, see ordering.resolve), which sort faster and in the same order."""

    source: str
    filters: tuple[str, ...] = ()
    ordered: Ordered | None = None
    case: str = "case_id"
    order: str = "ts, seq"
    on_copy: bool = False
    # Conditions that keep or drop whole cases (an outcome, a segment's customers): a pass
    # over stored rows may apply them after pairing events, which keeps their order.
    case_filters: tuple[str, ...] = ()

    @property
    def columns(self) -> str:
        """The columns every log has, and its window keys: what an analysis selects when
        it adds columns of its own (a `*` could clash with their names)."""
        extra = [k.strip() for k in (self.case + "," + self.order).split(",")
                 if k.strip() not in LOG_COLUMNS]
        return ", ".join([*LOG_COLUMNS, *extra])

    @property
    def window(self) -> str:
        return f"PARTITION BY {self.case} ORDER BY {self.order}"

    @property
    def order_from_end(self) -> str:
        """`order` descending: the case's last event first."""
        return ", ".join(f"{key.strip()} DESC" for key in self.order.split(","))

    def where(self, condition: str) -> Log:
        return replace(self, filters=(*self.filters, condition))

    def between(self, start: datetime | None = None, end: datetime | None = None) -> Log:
        log = self
        if start is not None:
            log = log.where(f"ts >= {literal(start)}")
        if end is not None:
            log = log.where(f"ts < {literal(end)}")
        return log

    def on_channels(self, channels: Iterable[str]) -> Log:
        channels = list(channels)
        return self.where(one_of("channel", channels)) if channels else self

    def of_cases(self, condition: str) -> Log:
        """Keep whole cases: those with an event that meets `condition` (e.g. an outcome)."""
        return self._of_cases(f"case_id IN (SELECT case_id FROM ({self.source}) AS c "
                              f"WHERE {condition})")

    def without_cases(self, condition: str) -> Log:
        return self._of_cases(f"case_id NOT IN (SELECT case_id FROM ({self.source}) AS c "
                              f"WHERE {condition})")

    def among(self, cases: Iterable[str]) -> Log:
        """Keep the cases with these ids (e.g. a segment's customers), no others."""
        chosen = list(cases)
        return self._of_cases(one_of("case_id", chosen) if chosen else "1 = 0")

    def _of_cases(self, condition: str) -> Log:
        return replace(self, case_filters=(*self.case_filters, condition))

    @property
    def sql(self) -> str:
        return self.select(self.source)

    def select(self, source: str, *, cases: bool = True) -> str:
        """`source`'s rows that pass the log's filters (without `cases`: its row filters
        only, not the conditions on whole cases)."""
        conditions = [*self.filters, *(self.case_filters if cases else ())]
        where = " AND ".join(f"({f})" for f in conditions)
        return f"SELECT * FROM ({source}) AS log" + (f" WHERE {where}" if where else "")


# The event store's case-ordered copies of the journeys, one per kind of case, and the
# table saying which event (seq) they hold up to, in which format (a copy of another format
# is not read): built by analytics/ordering.py.
ORDERED_TABLES: dict[Subject, str] = {"customer": "journeys_by_customer",
                                      "account": "journeys_by_account"}
ORDER_STATE = "journey_order"
ORDER_FORMAT = 1
JOURNEY_COLUMNS = "case_id, activity, ts, seq, channel, customer, account, type"


def journey_rows(subject: Subject, table: str = "events") -> str:
    """The events that can be steps of a journey, as log rows (with workspace_id), cases
    being customers or B2B accounts."""
    case = "account" if subject == "account" else "customer"
    having = "touchpoint IS NOT NULL" + (" AND account IS NOT NULL"
                                         if subject == "account" else "")
    return (f"SELECT workspace_id, {case} AS case_id, touchpoint AS activity, "
            f"occurred_at AS ts, seq, channel, customer, account, type "
            f"FROM {table} WHERE {having}")


def events_log(workspace_id: int, journey: Journey | None = None,
               subject: Subject = "customer", table: str = "events") -> Log:
    """Events of a workspace that have a touchpoint; with `journey`, only its touchpoints.
    A log of the event store's `events` knows its case-ordered copy (ordering.resolve)."""
    conditions = [f"workspace_id = {int(workspace_id)}"]
    if journey is not None:
        conditions.append(one_of("activity", (t.id for t in journey.touchpoints)))
    where = " AND ".join(conditions)
    rows = journey_rows(subject, table)
    log = Log(f"SELECT {JOURNEY_COLUMNS} FROM ({rows}) AS e WHERE {where}")
    if journey is not None and journey.episodes is not None:
        # Episodes are other cases than the copy's: read from the events, with windows.
        return episodes(log, journey.episodes.start)
    if table != "events":
        return log
    copy = ORDERED_TABLES[subject]
    upto = (f"coalesce((SELECT upto_seq FROM {ORDER_STATE} WHERE subject = "
            f"{literal(subject)} AND format = {ORDER_FORMAT}), -1)")
    touched = f"SELECT DISTINCT case_id FROM ({rows}) AS e WHERE {where} AND seq > {upto}"
    # Numbered after every case and row of the copy, in (case, ts, seq) order.
    recent = (f"SELECT {JOURNEY_COLUMNS}, "
              f"(SELECT coalesce(max(case_no), 0) FROM {copy}) "
              f"+ dense_rank() OVER (ORDER BY case_id) AS case_no, "
              f"(SELECT count(*) FROM {copy}) "
              f"+ row_number() OVER (ORDER BY case_id, ts, seq) AS place "
              f"FROM ({rows}) AS e WHERE {where} AND case_id IN ({touched})")
    stored = f"SELECT {JOURNEY_COLUMNS}, case_no, rowid AS place FROM {copy} WHERE {where}"
    return replace(log, ordered=Ordered(copy, stored, touched, recent, subject))


def episodes(log: Log, starts: Iterable[str]) -> Log:
    """`log` with each case cut into episodes: every event at one of the `starts`
    touchpoints begins a new one (events before the first are episode 0). An episode is a
    case of its own, `<case>#<n>`, numbered in (ts, seq) order inside the engine; the
    `customer` and `account` columns keep whose it is."""
    begins = one_of("activity", starts)
    return Log(
        f"SELECT concat(case_id, '#', CAST(episode AS STRING)) AS case_id, activity, ts, seq, "
        f"channel, customer, account, type FROM (SELECT *, sum(CASE WHEN {begins} THEN 1 "
        f"ELSE 0 END) OVER (PARTITION BY case_id ORDER BY ts, seq ROWS BETWEEN UNBOUNDED "
        f"PRECEDING AND CURRENT ROW) AS episode FROM ({log.sql}) AS e) AS cut")


def table_log(relation: str, case: str = "case_id", activity: str = "activity",
              timestamp: str = "ts", seq: str | None = None) -> Log:
    """A log from any relation (a table, or read_parquet(...)) with named columns. Without a
    sequence column, the row's position in the relation breaks timestamp ties (DuckDB only:
    Spark numbers rows only in a stated order, so give it a `seq`)."""
    order = f'"{seq}"' if seq else "row_number() OVER ()"
    return Log(
        f'SELECT CAST("{case}" AS STRING) AS case_id, CAST("{activity}" AS STRING) '
        f'AS activity, CAST("{timestamp}" AS TIMESTAMP) AS ts, {order} AS seq, '
        f"CAST(NULL AS STRING) AS channel FROM {relation}"
    )


Outcome = Literal["reached", "not_reached"]


def selection(workspace_id: int, journey: Journey | None = None, *,
              channels: Iterable[str] = (), since: datetime | None = None,
              until: datetime | None = None, subject: Subject = "customer",
              customers: Iterable[str] | None = None, outcome: Outcome | None = None,
              goal: str | Iterable[str] | None = None) -> Log:
    """The log most questions start from: a workspace's events (of one journey), in a
    period, on some channels, of some customers (a segment); cases are customers or B2B
    accounts; with `outcome`, only the cases that reached the `goal` touchpoint (any of
    them, when several: a journey's `goals`), or none."""
    log = events_log(workspace_id, journey, subject).between(since, until).on_channels(channels)
    if customers is not None:
        chosen = list(customers)
        if subject == "customer":  # whole cases
            log = log.among(chosen)
        else:  # an account's people: some of its events
            log = log.where(one_of("customer", chosen) if chosen else "1 = 0")
    if outcome is not None:
        goals = [goal] if isinstance(goal, str) else list(goal or [])
        if not goals:
            raise ValueError("an outcome filter needs the goal touchpoint")
        reached = one_of("activity", goals)
        log = log.of_cases(reached) if outcome == "reached" else log.without_cases(reached)
    return log
