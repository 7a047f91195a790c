"""The rule engine: what happened becomes rows of the actions outbox, each exactly once.

Every workspace reads four kinds of stream, each with a cursor in `rule_cursors`:

- `events`: the event store after the cursor's sequence number. Event rules (type, `where`
  on the JSON properties, the customer's segments, B2B role and consent) and promise rules
  (the clocks' `promise_at_risk` / `promise_breached` marks, engine/clocks.py, are events)
  read it.
- `answers`: survey responses by the time of their newest revision (`updated_at`, in
  microseconds). Responses reach DuckDB through the response journal a moment after they
  are saved, not in `updated_at` order, so each run reads again the last ANSWER_LAG before
  the cursor; the outbox's key makes a second sight of a response write nothing. Every
  saved revision is judged: a rule fires for a response once, on the first revision it
  holds for (a score bound holds once that score is answered; a rule with no bound and no
  theme once the response is complete).
- `score:<rule>`: a score crossing. The position counts the crossings: odd while the score
  is beyond its bound, even while it is not, so a rule fires once per crossing (cause
  `crossing-<n>`), not on every run that finds the score low. Not judged below the
  workspace's minimum n. The first look at a score that is beyond fires: from the unknown
  state before it, that is a crossing.
- `cron:<rule>`: a schedule, by the UTC minute up to which its ticks were looked for
  (domain/cron.py: wall-clock time in the workspace's business-hours time zone). A run
  fires the newest tick since the last run; older ones it passes over are counted, not
  fired. A new schedule starts from its first run.

What every run keeps:
- All enabled rules of a stream are matched in one DuckDB query, conditions turned into SQL
  with bound values (never `eval`, never a value written into the SQL text). A property
  compares as its JSON type: the string "1" is not the number 1, true is not "true".
- A (rule, action, cause) is written once: its `key` `<rule>:<action index>:<cause>` is
  unique per workspace and inserts do nothing on a conflict. The action rows and the
  cursor's move are one app-store transaction: a crash before the commit leaves both as
  they were, and the next run decides the same again.
- A cursor never moves backwards: a slower run that read less cannot undo a faster one.
- Causes older than LOOKBACK when first seen (a history imported today) do not fire.
- Nothing is sent here: rows are `planned`, due at the cause's time plus the action's
  delay (never before now); engine/deliver.py delivers them.

`replay` answers "what would this rule have done?" over a past period without writing
anything (`kokemus rules test`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import duckdb
import orjson
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.bootstrap import Kokemus
from kokemus.domain import cron, scores, text
from kokemus.domain.durations import parse_duration
from kokemus.domain.events import PROMISE_AT_RISK, PROMISE_BREACHED
from kokemus.domain.rules import (
    Compare,
    Condition,
    OnAnswer,
    OnEvent,
    OnPromise,
    OnSchedule,
    OnScore,
    Rule,
)
from kokemus.services import consents, workspaces
from kokemus.services.feedback import new_id
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions, customers, rule_cursors

log = logging.getLogger("kokemus.engine")

EVENTS = "events"
ANSWERS = "answers"
LOOKBACK = timedelta(days=7)  # a cause older than this when first seen does not fire
ANSWER_LAG = timedelta(minutes=5)  # answers read again before the cursor (see the module)
PASS_SEQ = 500_000  # sequence numbers read per pass: a long backlog goes in bounded steps
CRON_CATCH_UP = timedelta(days=1)  # a schedule looks back at most this far for a tick
MAX_CAUSE = 200  # characters of a cause id kept as it is (the column's width)
_CHUNK = 5_000  # customers looked up per query (SQLite binds at most 32,766 parameters)
_INSERT_ROWS = 2_000  # action rows per insert statement
_NUMERIC = ["UBIGINT", "BIGINT", "DOUBLE"]
_STATES = {"at_risk": PROMISE_AT_RISK, "breached": PROMISE_BREACHED}


@dataclass
class Decided:
    """What a run did, summed over workspaces and streams."""

    events: int = 0  # events read after the cursors
    answers: int = 0  # response revisions read (the re-read ANSWER_LAG included)
    matched: int = 0  # (rule, cause) pairs whose trigger holds
    not_targeted: int = 0  # ... whose customer is outside the segments, roles or consent
    stale: int = 0  # ... whose cause is older than LOOKBACK
    fired: int = 0  # (rule, cause) pairs that decided their actions
    planned: int = 0  # action rows written now
    again: int = 0  # action rows written by an earlier run already
    crossings: int = 0  # scores that crossed their bound now
    ticks: int = 0  # schedule ticks fired
    passed_over: int = 0  # schedule ticks older than the newest in a run, not fired

    def add(self, other: Decided) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass(frozen=True)
class Cause:
    """What fired a rule: an event, an answer, a score crossing or a schedule tick."""

    id: str
    type: str
    occurred_at: datetime
    customer: str | None = None
    channel: str | None = None
    touchpoint: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The id as the outbox keeps it: a longer one (a promise mark of a long event id)
        by its digest."""
        if len(self.id) <= MAX_CAUSE:
            return self.id
        return "sha256:" + hashlib.sha256(self.id.encode()).hexdigest()

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "occurred_at": self.occurred_at.isoformat(),
                "channel": self.channel, "touchpoint": self.touchpoint,
                "properties": self.properties}


@dataclass(frozen=True)
class Fired:
    """A rule that fired for a cause: the actions it decided on."""

    rule: Rule
    cause: Cause

    def rows(self, workspace_id: int, now: datetime) -> list[dict[str, Any]]:
        """One outbox row per action."""
        out: list[dict[str, Any]] = []
        cause_json = self.cause.as_json()
        for index, action in enumerate(self.rule.actions):
            due = self.cause.occurred_at + timedelta(seconds=self.rule.delay_seconds(index))
            payload = {"rule": self.rule.id, "action": index, "do": action.do,
                       "customer": self.cause.customer, "cause": cause_json,
                       "params": action.model_dump(mode="json")}
            out.append({
                "id": new_id(), "workspace_id": workspace_id, "rule": self.rule.id,
                "action": index, "kind": action.do,
                "key": f"{self.rule.id}:{index}:{self.cause.key}",
                "customer": self.cause.customer, "cause": self.cause.key,
                "payload": orjson.dumps(payload).decode(), "status": "planned",
                "reason": None, "attempts": 0, "due_at": max(due, now), "done_at": None,
                "created_at": now,
            })
        return out


# ------------------------------------------------------------------------------- running


def run(kk: Kokemus, now: datetime | None = None) -> Decided:
    """Decide the actions of every workspace's rules on what happened since the last run."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    total = Decided()
    for slug in workspaces.slugs(kk.db):
        total.add(run_workspace(kk, workspaces.get(kk.db, slug), now))
    return total


def run_workspace(kk: Kokemus, workspace: ActiveWorkspace, now: datetime) -> Decided:
    """One workspace's run: every stream, each committed with its cursor."""
    now = now.astimezone(UTC)
    done = Decided()
    rules = workspace.document.rules
    on = [r for r in rules if r.enabled]
    _events(kk, workspace, [r for r in on if isinstance(r.when, OnEvent | OnPromise)], now,
            done)
    answer_rules = [r for r in on if isinstance(r.when, OnAnswer)]
    if answer_rules:
        _answers(kk, workspace, answer_rules, now, done)
    score_rules = [r for r in on if isinstance(r.when, OnScore)]
    if score_rules:
        _scores(kk, workspace, score_rules, now, done)
    if any(isinstance(r.when, OnSchedule) for r in rules):
        _schedules(kk, workspace, [r for r in rules if isinstance(r.when, OnSchedule)], now,
                   done)
    return done


def _events(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
            done: Decided) -> None:
    """The event stream in passes of at most PASS_SEQ sequence numbers. The cursor moves
    over the events read even when no rule reads them: a rule added later acts on events
    from its first run on."""
    start = _position(kk.db, workspace.id, EVENTS)
    with kk.events.reading(settled=False) as cur:
        # the upper bound first: events appended meanwhile wait for the next run
        row = cur.execute("SELECT max(seq), count(*) FROM events WHERE workspace_id = ? "
                          "AND seq > ?", [workspace.id, start]).fetchone()
    if row is None or row[0] is None:
        return
    top = int(row[0])
    done.events += int(row[1])
    while start < top:
        end = min(top, start + PASS_SEQ)
        found: list[tuple[Rule, Cause, bool]] = []
        if rules:
            with kk.events.reading(settled=False) as cur:
                found = match_events(cur, workspace.id, rules, (start, end),
                                     stale_before=now - LOOKBACK)
        fired = _judged(kk.db, workspace.id, found, done)
        _commit(kk.db, workspace.id, fired, {EVENTS: end}, now, done)
        start = end


def _answers(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
             done: Decided) -> None:
    position = _position(kk.db, workspace.id, ANSWERS)
    after = (_from_us(position) - ANSWER_LAG) if position else datetime(1970, 1, 1,
                                                                        tzinfo=UTC)
    after = max(after, now - LOOKBACK)
    with kk.events.reading() as cur:  # settled: the journal's answers are in DuckDB
        row = cur.execute("SELECT max(updated_at), count(*) FROM responses "
                          "WHERE workspace_id = ? AND updated_at > ?",
                          [workspace.id, after]).fetchone()
        if row is None or row[0] is None:
            return
        until = row[0].astimezone(UTC)
        done.answers += int(row[1])
        found = match_answers(cur, workspace, rules, (after, until))
    fired = _judged(kk.db, workspace.id, found, done)
    _commit(kk.db, workspace.id, fired, {ANSWERS: max(position, _to_us(until))}, now, done)


def _scores(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
            done: Decided) -> None:
    min_n = workspace.document.feedback.min_answers
    with kk.events.reading() as cur:
        measured = measure_scores(cur, workspace.id, rules, now, min_n)
    for rule, (value, n, low, high) in zip(rules, measured, strict=True):
        when = rule.when
        assert isinstance(when, OnScore)
        stream = stream_name("score", rule.id)
        position = _position(kk.db, workspace.id, stream)
        if value is None or n < min_n:
            continue  # not judged: too few answers in the window
        beyond = _beyond(when, value)
        if beyond == (position % 2 == 1):
            continue
        fired: list[Fired] = []
        if beyond:
            crossing = (position + 1) // 2 + 1
            done.crossings += 1
            done.matched += 1
            fired.append(Fired(rule, _crossing_cause(rule, when, crossing, now, value, n,
                                                     low, high)))
        _commit(kk.db, workspace.id, fired, {stream: position + 1}, now, done)


def _schedules(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
               done: Decided) -> None:
    zone = workspace.document.business_hours.timezone
    minute = _minute(now)
    for rule in rules:
        when = rule.when
        assert isinstance(when, OnSchedule)
        stream = stream_name("cron", rule.id)
        position = _position(kk.db, workspace.id, stream)
        fired: list[Fired] = []
        if position and rule.enabled:
            after = max(datetime.fromtimestamp(position * 60, UTC), now - CRON_CATCH_UP)
            tick, passed = cron.latest(_cron(when.cron), zone, after, now)
            done.passed_over += passed
            if tick is not None:
                done.ticks += 1
                done.matched += 1
                fired.append(Fired(rule, tick_cause(when, tick, zone)))
        if minute > position:
            _commit(kk.db, workspace.id, fired, {stream: minute}, now, done)


# ------------------------------------------------------------------------------ matching


def match_events(cur: duckdb.DuckDBPyConnection, workspace_id: int, rules: Sequence[Rule],
                 seqs: tuple[int, int] | None = None, *,
                 period: tuple[datetime, datetime] | None = None,
                 stale_before: datetime | None = None) -> list[tuple[Rule, Cause, bool]]:
    """Every (rule, event, stale) of the event and promise rules in one query: events with
    seq in (seqs[0], seqs[1]], or occurred in [period[0], period[1]); `stale`: the event
    occurred before `stale_before`."""
    paths: dict[str, int] = {}  # JSON path -> its place in the extracted list (1-based)
    parts: list[str] = []
    params: list[Any] = []
    types: set[str] = set()
    for index, rule in enumerate(rules):
        when = rule.when
        conditions = ["type = ?"]
        if isinstance(when, OnEvent):
            part_params: list[Any] = [index, when.event]
            types.add(when.event)
            for key, condition in when.where.items():
                sql, values = condition_sql(_slot(paths, key), condition)
                conditions.append(sql)
                part_params += values
        elif isinstance(when, OnPromise):
            part_params = [index, _STATES[when.state]]
            types.add(_STATES[when.state])
            if when.commitments:
                promise, commitment = _slot(paths, "promise"), _slot(paths, "commitment")
                conditions.append(f"list_contains(?, ({promise} ->> '$') || '.' || "
                                  f"({commitment} ->> '$'))")
                part_params.append(list(when.commitments))
        else:
            continue
        parts.append("SELECT ? AS rule, id, type, customer, channel, touchpoint, "
                     f"occurred_at, properties FROM fresh WHERE {' AND '.join(conditions)}")
        params += part_params
    if not parts:
        return []
    scope_params: list[Any]
    if seqs is not None:
        scope, scope_params = "seq > ? AND seq <= ?", [seqs[0], seqs[1]]
    elif period is not None:
        scope, scope_params = "occurred_at >= ? AND occurred_at <= ?", [*period]
    else:
        raise ValueError("match_events needs seqs or a period")
    extracted = ", json_extract(properties, ?) AS v" if paths else ""
    sql = (f"WITH fresh AS MATERIALIZED (SELECT id, type, customer, channel, touchpoint, "
           f"occurred_at, properties, seq{extracted} FROM events WHERE workspace_id = ? "
           f"AND {scope} AND list_contains(?, type)) "
           + " UNION ALL ".join(parts) + " ORDER BY occurred_at, rule, id")
    head = [list(paths)] if paths else []
    rows = cur.execute(sql, [*head, workspace_id, *scope_params, sorted(types),
                             *params]).fetchall()
    stale = stale_before.astimezone(UTC) if stale_before is not None else None
    found: list[tuple[Rule, Cause, bool]] = []
    for index, ident, kind, customer, channel, touchpoint, occurred_at, properties in rows:
        at = occurred_at.astimezone(UTC)
        cause = Cause(ident, kind, at, customer, channel, touchpoint,
                      orjson.loads(properties) if properties else {})
        found.append((rules[index], cause, stale is not None and at < stale))
    return found


def match_answers(cur: duckdb.DuckDBPyConnection, workspace: ActiveWorkspace,
                  rules: Sequence[Rule],
                  period: tuple[datetime, datetime]) -> list[tuple[Rule, Cause, bool]]:
    """Every (rule, response) of the answer rules in one query: responses whose newest
    revision was saved in (period[0], period[1]]; a theme is looked for in Python (lemmas)
    among the comments the query found."""
    parts: list[str] = []
    params: list[Any] = []
    for index, rule in enumerate(rules):
        when = rule.when
        if not isinstance(when, OnAnswer):
            continue
        conditions: list[str] = []
        part_params: list[Any] = [index]
        if when.survey is not None:
            conditions.append("survey = ?")
            part_params.append(when.survey)
        for column in ("nps", "ces", "csat"):
            bound: Compare | None = getattr(when, column)
            if bound is not None:
                sql, values = column_sql(column, bound)
                conditions.append(sql)
                part_params += values
        if when.theme is not None:
            conditions.append("coalesce(length(trim(comment)), 0) > 0")
        if when.nps is None and when.ces is None and when.csat is None and when.theme is None:
            conditions.append("complete")
        parts.append("SELECT ? AS rule, id, survey, customer, channel, touchpoint, language, "
                     "nps, ces, csat, comment, complete, revision, invitation, event_id, "
                     "updated_at FROM fresh"
                     + (f" WHERE {' AND '.join(conditions)}" if conditions else ""))
        params += part_params
    if not parts:
        return []
    sql = ("WITH fresh AS MATERIALIZED (SELECT * FROM responses WHERE workspace_id = ? "
           "AND updated_at > ? AND updated_at <= ?) "
           + " UNION ALL ".join(parts) + " ORDER BY updated_at, rule, id")
    rows = cur.execute(sql, [workspace.id, period[0], period[1], *params]).fetchall()
    themes = {t.id: t.lemmas for t in workspace.document.insights.themes}
    found: list[tuple[Rule, Cause, bool]] = []
    for (index, ident, survey, customer, channel, touchpoint, language, nps, ces, csat,
         comment, complete, revision, invitation, event_id, updated_at) in rows:
        rule = rules[index]
        when = rule.when
        assert isinstance(when, OnAnswer)
        if when.theme is not None and not _mentions(themes.get(when.theme), comment,
                                                    language):
            continue
        properties = {"survey": survey, "nps": nps, "ces": ces, "csat": csat,
                      "comment": comment, "language": language, "complete": complete,
                      "revision": revision, "invitation": invitation, "event_id": event_id}
        cause = Cause(ident, "answer", updated_at.astimezone(UTC), customer, channel,
                      touchpoint, properties)
        found.append((rule, cause, False))
    return found


def _mentions(lemmas: Any, comment: str | None, language: str | None) -> bool:
    if not lemmas or not comment:
        return False
    return text.mentions(lemmas, text.terms(comment, language), language)


def _slot(paths: dict[str, int], key: str) -> str:
    """The extracted JSON value of property `key` (its path added once)."""
    path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if path not in paths:
        paths[path] = len(paths) + 1
    return f"v[{paths[path]}]"


def condition_sql(value: str, condition: Condition) -> tuple[str, list[Any]]:
    """SQL that holds when the JSON value `value` (an SQL expression: NULL when the property
    is missing) meets `condition`, and its bound values. Types compare as JSON types; `ne`
    and `not_in` also hold when the property is missing (or null); `exists` means present
    and not null."""
    compare = condition if isinstance(condition, Compare) else Compare(eq=condition)
    kind = f"json_type({value})"
    parts: list[str] = []
    params: list[Any] = []
    for op, operand in compare.checks():
        if op in ("eq", "ne"):
            sql, values = _equals(value, kind, [operand])
            parts.append(sql if op == "eq" else f"NOT {sql}")
            params += values
        elif op in ("in", "not_in"):
            sql, values = _equals(value, kind, list(operand))
            parts.append(sql if op == "in" else f"NOT {sql}")
            params += values
        elif op == "exists":
            present = f"coalesce({kind} <> 'NULL', false)"
            parts.append(present if operand else f"NOT {present}")
        else:
            parts.append(f"coalesce(list_contains(?, {kind}) AND "
                         f"TRY_CAST({value} AS DOUBLE) {_OPS[op]} ?, false)")
            params += [_NUMERIC, float(operand)]
    return "(" + " AND ".join(parts) + ")", params


_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def _equals(value: str, kind: str, operands: list[Any]) -> tuple[str, list[Any]]:
    """SQL (never NULL) that the JSON value equals one of `operands`, type by type."""
    booleans = [str(o).lower() for o in operands if isinstance(o, bool)]
    numbers = [float(o) for o in operands if isinstance(o, int | float)
               and not isinstance(o, bool)]
    strings = [o for o in operands if isinstance(o, str)]
    parts: list[str] = []
    params: list[Any] = []
    if booleans:
        parts.append(f"({kind} = 'BOOLEAN' AND list_contains(?, {value} ->> '$'))")
        params.append(booleans)
    if numbers:
        parts.append(f"(list_contains(?, {kind}) AND "
                     f"list_contains(?, TRY_CAST({value} AS DOUBLE)))")
        params += [_NUMERIC, numbers]
    if strings:
        parts.append(f"({kind} = 'VARCHAR' AND list_contains(?, {value} ->> '$'))")
        params.append(strings)
    if not parts:
        return "false", []
    return f"coalesce({' OR '.join(parts)}, false)", params


def column_sql(column: str, bound: Compare) -> tuple[str, list[Any]]:
    """SQL that a score column (nps, ces, csat: a small integer or NULL) meets `bound`. A
    bound other than `exists` needs the score answered; a string or true/false never
    equals a score."""
    parts: list[str] = []
    params: list[Any] = []
    answered = f"{column} IS NOT NULL"
    for op, operand in bound.checks():
        if op == "exists":
            parts.append(answered if operand else f"{column} IS NULL")
            continue
        parts.append(answered)
        if op in ("eq", "ne", "in", "not_in"):
            wanted = [float(o) for o in (operand if op in ("in", "not_in") else [operand])
                      if isinstance(o, int | float) and not isinstance(o, bool)]
            contains = f"list_contains(?, CAST({column} AS DOUBLE))"
            parts.append(contains if op in ("eq", "in") else f"NOT {contains}")
            params.append(wanted)
        else:
            parts.append(f"{column} {_OPS[op]} ?")
            params.append(float(operand))
    return "(" + " AND ".join(parts) + ")", params


# -------------------------------------------------------------------------------- scores


def measure_scores(cur: duckdb.DuckDBPyConnection, workspace_id: int, rules: Sequence[Rule],
                   now: datetime, min_n: int
                   ) -> list[tuple[float | None, int, float | None, float | None]]:
    """Each score rule's (value, n, low, high) over its window before `now`, one query for
    all (responses by the time they were started, as the score reports count them)."""
    parts: list[str] = []
    params: list[Any] = []
    for index, rule in enumerate(rules):
        when = rule.when
        assert isinstance(when, OnScore)
        where, values = _score_filter(when)
        since = now - timedelta(seconds=parse_duration(when.window))
        parts.append(f"SELECT ? AS rule, {_COUNTS} FROM responses WHERE workspace_id = ? "
                     f"AND started_at >= ? AND started_at < ?{where}")
        params += [index, workspace_id, since, now, *values]
    rows = {int(r[0]): r[1:] for r in cur.execute(" UNION ALL ".join(parts),
                                                    params).fetchall()}
    out: list[tuple[float | None, int, float | None, float | None]] = []
    for index, rule in enumerate(rules):
        when = rule.when
        assert isinstance(when, OnScore)
        score = _score(when.score, rows.get(index, (0,) * 8), min_n)
        out.append((score.value, score.n, score.low, score.high))
    return out


# What each score needs, counted by the engine (as analytics/scores.py counts them)
_COUNTED = (
    ("promoters", "count(*) FILTER (WHERE nps >= 9)"),
    ("passives", "count(*) FILTER (WHERE nps BETWEEN 7 AND 8)"),
    ("detractors", "count(*) FILTER (WHERE nps <= 6)"),
    ("ces_n", "count(ces)"),
    ("ces_sum", "coalesce(sum(ces), 0)"),
    ("ces_squares", "coalesce(sum(CAST(ces AS INTEGER) * ces), 0)"),
    ("csat_n", "count(csat)"),
    ("csat_top2", "count(*) FILTER (WHERE csat >= 4)"),
)
_COUNTS = ", ".join(sql for _, sql in _COUNTED)
_COUNTS_NAMED = ", ".join(f"{sql} AS {name}" for name, sql in _COUNTED)


def _score_filter(when: OnScore) -> tuple[str, list[Any]]:
    where = ""
    values: list[Any] = []
    if when.touchpoint is not None:
        where += " AND touchpoint = ?"
        values.append(when.touchpoint)
    if when.segment is not None:
        where += " AND list_contains(segments, ?)"
        values.append(when.segment)
    return where, values


def _score(kind: str, counts: Sequence[Any], min_n: int) -> scores.Score:
    promoters, passives, detractors, ces_n, ces_sum, ces_squares, csat_n, csat_top2 = (
        int(c) for c in counts)
    if kind == "nps":
        return scores.nps(promoters, passives, detractors, min_n)
    if kind == "ces":
        return scores.ces(ces_n, ces_sum, ces_squares, min_n)
    return scores.csat(csat_top2, csat_n, min_n)


def _beyond(when: OnScore, value: float) -> bool:
    if when.below is not None:
        return value < when.below
    assert when.above is not None
    return value > when.above


def _crossing_cause(rule: Rule, when: OnScore, crossing: int, at: datetime, value: float,
                    n: int, low: float | None, high: float | None) -> Cause:
    return Cause(f"crossing-{crossing}", "score_crossed", at, None, None, when.touchpoint, {
        "score": when.score, "value": value, "n": n, "low": low, "high": high,
        "below": when.below, "above": when.above, "window": when.window,
        "touchpoint": when.touchpoint, "segment": when.segment, "crossing": crossing})


def tick_cause(when: OnSchedule, tick: cron.Tick, zone: str) -> Cause:
    return Cause(f"tick:{tick.id}", "schedule", tick.at, None, None, None, {
        "cron": when.cron, "local": tick.id, "timezone": zone})


@lru_cache(maxsize=1024)
def _cron(expression: str) -> cron.Cron:
    return cron.parse(expression)


# ----------------------------------------------------------------------------- targeting


def _judged(db: Engine, workspace_id: int, found: list[tuple[Rule, Cause, bool]],
            done: Decided) -> list[Fired]:
    """The matches that fire: not stale, and their customer in the event rule's segments
    and roles and with its consent (looked up when the event is decided: a customer
    imported later does not count)."""
    done.matched += len(found)
    fresh = [(rule, cause) for rule, cause, stale in found if not stale]
    done.stale += len(found) - len(fresh)
    kept, outside = targeted(db, workspace_id, fresh)
    done.not_targeted += outside
    return kept


def targeted(db: Engine, workspace_id: int,
             pairs: Sequence[tuple[Rule, Cause]]) -> tuple[list[Fired], int]:
    """The pairs whose customer meets the rule's segments, roles and consent; how many
    did not."""
    wanting = {c.customer for r, c in pairs if _targets(r) and c.customer is not None}
    people = _people(db, workspace_id, wanting) if wanting else {}
    purposes = {r.when.consent for r, _ in pairs
                if isinstance(r.when, OnEvent) and r.when.consent is not None}
    allowed = {purpose: consents.allowed(
        db, workspace_id, {c.customer for r, c in pairs if isinstance(r.when, OnEvent)
                           and r.when.consent == purpose and c.customer is not None},
        purpose) for purpose in purposes}
    kept: list[Fired] = []
    for rule, cause in pairs:
        when = rule.when
        if isinstance(when, OnEvent):
            person = people.get(cause.customer or "")
            if (when.segments or when.roles) and not _in_target(when, person):
                continue
            if when.consent is not None and cause.customer not in allowed[when.consent]:
                continue
        kept.append(Fired(rule, cause))
    return kept, len(pairs) - len(kept)


def _targets(rule: Rule) -> bool:
    when = rule.when
    return isinstance(when, OnEvent) and bool(when.segments or when.roles)


def _in_target(when: OnEvent, person: tuple[list[str], str | None] | None) -> bool:
    if person is None:
        return False
    segments, role = person
    if when.segments and not set(when.segments) & set(segments):
        return False
    return not when.roles or role in when.roles


def _people(db: Engine, workspace_id: int,
            ids: Iterable[str]) -> dict[str, tuple[list[str], str | None]]:
    """Segments and buying role of the given customers, a query per few thousand."""
    wanted = sorted(ids)
    found: dict[str, tuple[list[str], str | None]] = {}
    with db.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            for cid, segments, role in conn.execute(
                select(customers.c.id, customers.c.segments, customers.c.role).where(
                    customers.c.workspace_id == workspace_id,
                    customers.c.id.in_(wanted[i:i + _CHUNK]))):
                found[cid] = (list(segments or []), role)
    return found


# ------------------------------------------------------------------------------- storing


def _commit(db: Engine, workspace_id: int, fired: list[Fired], moves: dict[str, int],
            now: datetime, done: Decided) -> None:
    """The action rows of `fired` and the cursors' moves, in one transaction."""
    rows = [row for f in fired for row in f.rows(workspace_id, now)]
    done.fired += len(fired)
    with db.begin() as conn:
        written = 0
        insert = _dialect_insert(db)(actions).on_conflict_do_nothing(
            index_elements=["workspace_id", "key"]).returning(actions.c.id)
        for i in range(0, len(rows), _INSERT_ROWS):
            written += len(conn.execute(insert, rows[i:i + _INSERT_ROWS]).all())
        for stream, position in moves.items():
            _move(db, conn, workspace_id, stream, position, now)
    done.planned += written
    done.again += len(rows) - written


def _dialect_insert(db: Engine) -> Any:
    return pg_insert if db.dialect.name == "postgresql" else sqlite_insert


def position(db: Engine, workspace_id: int, stream: str) -> int:
    """Where a stream's cursor is (0: never moved)."""
    return _position(db, workspace_id, stream)


def _position(db: Engine, workspace_id: int, stream: str) -> int:
    with db.connect() as conn:
        found = conn.execute(select(rule_cursors.c.position).where(
            rule_cursors.c.workspace_id == workspace_id,
            rule_cursors.c.stream == stream)).scalar()
    return int(found or 0)


def _move(db: Engine, conn: Connection, workspace_id: int, stream: str, position: int,
          now: datetime) -> None:
    stmt = _dialect_insert(db)(rule_cursors).values(
        workspace_id=workspace_id, stream=stream, position=position, updated_at=now)
    # never backwards: a slower run that read less must not undo a faster one's progress
    larger = (func.max if db.dialect.name == "sqlite" else func.greatest)(
        rule_cursors.c.position, stmt.excluded.position)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["workspace_id", "stream"],
        set_={"position": larger, "updated_at": stmt.excluded.updated_at}))


def stream_name(kind: str, rule_id: str) -> str:
    """`<kind>:<rule>`, or the rule's digest when that is longer than the column (32)."""
    name = f"{kind}:{rule_id}"
    if len(name) <= 32:
        return name
    return f"{kind}:#" + hashlib.sha256(rule_id.encode()).hexdigest()[:30 - len(kind)]


def _to_us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _minute(moment: datetime) -> int:
    return _to_us(moment) // 60_000_000


# ------------------------------------------------------------------------------- replays


@dataclass
class Replayed:
    """What a rule would have done over a period, deciding nothing."""

    rule: Rule
    since: datetime
    until: datetime
    fired: list[Fired] = field(default_factory=list)
    matched: int = 0  # causes the trigger held for
    not_targeted: int = 0  # ... whose customer is outside its segments, roles or consent


def replay(kk: Kokemus, workspace: ActiveWorkspace, rule: Rule, since: datetime,
           until: datetime) -> Replayed:
    """What `rule` would have fired for what happened in [since, until]: its causes, the
    customer and the actions, oldest first. Nothing is written. Customers' segments, roles
    and consent are taken as they are now; a score is judged at the end of every hour (its
    window rounded up to whole hours), from its state at `since`; a schedule lists every
    tick."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    done = Replayed(rule, since, until)
    when = rule.when
    found: list[tuple[Rule, Cause]] = []
    if isinstance(when, OnEvent | OnPromise):
        with kk.events.reading(settled=False) as cur:
            found = [(r, c) for r, c, _ in match_events(cur, workspace.id, [rule],
                                                         period=(since, until))]
    elif isinstance(when, OnAnswer):
        with kk.events.reading() as cur:
            found = [(r, c) for r, c, _ in match_answers(cur, workspace, [rule],
                                                          (since, until))]
    elif isinstance(when, OnScore):
        with kk.events.reading() as cur:
            found = [(rule, c) for c in _score_history(
                cur, workspace.id, rule, when, since, until,
                workspace.document.feedback.min_answers)]
    elif isinstance(when, OnSchedule):
        zone = workspace.document.business_hours.timezone
        found = [(rule, tick_cause(when, t, zone))
                 for t in cron.ticks(_cron(when.cron), zone, since, until)]
    done.matched = len(found)
    done.fired, done.not_targeted = targeted(kk.db, workspace.id, found)
    return done


def _score_history(cur: duckdb.DuckDBPyConnection, workspace_id: int, rule: Rule,
                   when: OnScore, since: datetime, until: datetime,
                   min_n: int) -> list[Cause]:
    """The crossings of a score judged at the end of every hour in (since, until]."""
    hours = max(1, -(-int(parse_duration(when.window)) // 3600))
    first = since.replace(minute=0, second=0, microsecond=0)
    where, values = _score_filter(when)
    rows = cur.execute(f"""
        WITH buckets AS (
            SELECT time_bucket(INTERVAL 1 hour, started_at) AS h, {_COUNTS_NAMED}
            FROM responses WHERE workspace_id = ? AND started_at >= ? AND started_at < ?
            {where} GROUP BY h),
        hours AS (SELECT unnest(generate_series(?::TIMESTAMPTZ - to_hours(?),
                                                ?::TIMESTAMPTZ, INTERVAL 1 hour)) AS h)
        SELECT h + INTERVAL 1 hour AS at, {_ROLLING}
        FROM hours LEFT JOIN buckets USING (h)
        WINDOW w AS (ORDER BY h ROWS BETWEEN {hours - 1} PRECEDING AND CURRENT ROW)
        ORDER BY h
    """, [workspace_id, first - timedelta(hours=hours), until, *values,
          first, hours, until]).fetchall()
    beyond: bool | None = None
    crossings = 0
    out: list[Cause] = []
    for at, *counts in rows:
        moment = at.astimezone(UTC)
        if moment < since or moment > until:
            if moment <= since:  # the state at the start is where the period begins
                score = _score(when.score, counts, min_n)
                if score.value is not None and score.enough:
                    beyond = _beyond(when, score.value)
            continue
        score = _score(when.score, counts, min_n)
        if score.value is None or not score.enough:
            continue
        now_beyond = _beyond(when, score.value)
        if now_beyond and beyond is not True:
            crossings += 1
            out.append(_crossing_cause(rule, when, crossings, moment, score.value, score.n,
                                       score.low, score.high))
        beyond = now_beyond
    return out


_ROLLING = ", ".join(f"coalesce(sum({name}) OVER w, 0)" for name, _ in _COUNTED)
