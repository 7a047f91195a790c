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
  `crossing-<n>`), not on every run that finds the score low. Judged at most once a
  minute (SCORE_EVERY), and not below the workspace's minimum n. The first look at a
  score that is beyond fires: from the unknown state before it, that is a crossing.
- `cron:<rule>`: a schedule, by the UTC minute up to which its ticks were looked for
  (domain/cron.py: wall-clock time in the workspace's business-hours time zone). A run
  fires the newest tick since the last run; older ones it passes over are counted, not
  fired. A new schedule starts from its first run.

What every run keeps:
- All enabled rules of a stream are matched in one DuckDB query. Conditions are data: an
  event rule's go in as rows of operators and values joined to the events (`conditions`,
  `MATCH`), an answer rule's as bound values; never `eval`, never a value written into
  the SQL text. A property compares as its JSON type: the string "1" is not the number 1,
  true is not "true".
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

import base64
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import duckdb
import orjson
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.bootstrap import Kokemus
from kokemus.domain import cron, scores, text
from kokemus.domain.durations import parse_duration
from kokemus.domain.events import PROMISE_AT_RISK, PROMISE_BREACHED
from kokemus.domain.rules import (
    Compare,
    OnAnswer,
    OnEvent,
    OnPromise,
    OnSchedule,
    OnScore,
    Rule,
)
from kokemus.engine import triggers
from kokemus.services import consents, workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions, rule_cursors

log = logging.getLogger("kokemus.engine")

EVENTS = "events"
ANSWERS = "answers"
LOOKBACK = timedelta(days=7)  # a cause older than this when first seen does not fire
ANSWER_LAG = timedelta(minutes=5)  # answers read again before the cursor (see the module)
PASS_SEQ = 500_000  # sequence numbers read per pass: a long backlog goes in bounded steps
CRON_CATCH_UP = timedelta(days=1)  # a schedule looks back at most this far for a tick
SCORE_EVERY = timedelta(minutes=1)  # scores are judged at most this often
MAX_CAUSE = 200  # characters of a cause id kept as it is (the column's width)
_INSERT_ROWS = 2_000  # action rows per insert statement
_NUMERIC = ["UBIGINT", "BIGINT", "DOUBLE"]
_STATES = {"at_risk": PROMISE_AT_RISK, "breached": PROMISE_BREACHED}


@dataclass
class Decided:
    """What a run did, summed over workspaces and streams."""

    events: int = 0  # events read after the cursors
    answers: int = 0  # response revisions read (the re-read ANSWER_LAG included)
    matched: int = 0  # (rule, cause) pairs whose trigger holds
    not_targeted: int = 0  # ... whose customer is outside the segments, roles, consent
    # or in the rule's holdout
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

    def rows(self, workspace_id: int, now: datetime,
             params: dict[int, Any] | None = None) -> list[dict[str, Any]]:
        """One outbox row per action. `params`: the actions' dumps by id(action), kept by
        a caller that writes many rows of the same rules."""
        params = {} if params is None else params
        out: list[dict[str, Any]] = []
        cause_json = self.cause.as_json()
        for index, action in enumerate(self.rule.actions):
            due = self.cause.occurred_at + timedelta(seconds=self.rule.delay_seconds(index))
            dumped = params.get(id(action))
            if dumped is None:
                dumped = params[id(action)] = action.model_dump(mode="json")
            payload = {"rule": self.rule.id, "action": index, "do": action.do,
                       "customer": self.cause.customer, "cause": cause_json,
                       "params": dumped}
            key = f"{self.rule.id}:{index}:{self.cause.key}"
            out.append({
                "id": row_id(workspace_id, key), "workspace_id": workspace_id,
                "rule": self.rule.id, "action": index, "kind": action.do, "key": key,
                "customer": self.cause.customer, "cause": self.cause.key,
                "payload": orjson.dumps(payload).decode(), "status": "planned",
                "reason": None, "attempts": 0, "due_at": max(due, now), "done_at": None,
                "created_at": now,
            })
        return out


def row_id(workspace_id: int, key: str) -> str:
    """An outbox row's id: 16 URL-safe characters drawn from its key, so deciding again
    makes the same id (and costs no system call for randomness per row)."""
    digest = hashlib.blake2b(f"{workspace_id}:{key}".encode(), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode()


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
    cursors = _cursors(kk.db, workspace.id)
    _events(kk, workspace, [r for r in on if isinstance(r.when, OnEvent | OnPromise)], now,
            cursors, done)
    answer_rules = [r for r in on if isinstance(r.when, OnAnswer)]
    if answer_rules:
        _answers(kk, workspace, answer_rules, now, cursors, done)
    score_rules = [r for r in on if isinstance(r.when, OnScore)]
    if score_rules:
        _scores(kk, workspace, score_rules, now, cursors, done)
    if any(isinstance(r.when, OnSchedule) for r in rules):
        _schedules(kk, workspace, [r for r in rules if isinstance(r.when, OnSchedule)], now,
                   cursors, done)
    return done


Cursors = dict[str, tuple[int, datetime]]  # stream -> (position, updated_at)


def _events(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
            cursors: Cursors, done: Decided) -> None:
    """The event stream in passes of at most PASS_SEQ sequence numbers. The cursor moves
    over the events read even when no rule reads them: a rule added later acts on events
    from its first run on."""
    start = cursors.get(EVENTS, (0, now))[0]
    with kk.events.reading(settled=False) as cur:
        # the upper bound first: events appended meanwhile wait for the next run
        [row] = cur.execute("SELECT max(seq), count(*) FROM events WHERE workspace_id = ? "
                            "AND seq > ?", [workspace.id, start]).fetchall()
        if row[0] is None:
            return
        top = int(row[0])
        done.events += int(row[1])
        while start < top:
            end = min(top, start + PASS_SEQ)
            found = (match_events(cur, workspace.id, rules, (start, end),
                                  stale_before=now - LOOKBACK) if rules else [])
            fired = _judged(kk.db, workspace.id, found, done)
            _commit(kk.db, workspace.id, fired, {EVENTS: end}, now, done)
            start = end


def _answers(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
             cursors: Cursors, done: Decided) -> None:
    position = cursors.get(ANSWERS, (0, now))[0]
    after = (_from_us(position) - ANSWER_LAG) if position else datetime(1970, 1, 1,
                                                                        tzinfo=UTC)
    after = max(after, now - LOOKBACK)
    with kk.events.reading() as cur:  # settled: the journal's answers are in DuckDB
        [row] = cur.execute("SELECT max(updated_at), count(*) FROM responses "
                            "WHERE workspace_id = ? AND updated_at > ?",
                            [workspace.id, after]).fetchall()
        if row[0] is None:
            return
        until = row[0].astimezone(UTC)
        done.answers += int(row[1])
        found = match_answers(cur, workspace, rules, (after, until))
    fired = _judged(kk.db, workspace.id, found, done)
    _commit(kk.db, workspace.id, fired, {ANSWERS: max(position, _to_us(until))}, now, done)


def _scores(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
            cursors: Cursors, done: Decided) -> None:
    """Judge the scores, at most every SCORE_EVERY (a window of days moves slowly, and
    the query reads every answer in it); each stream's `updated_at` says when."""
    streams = [stream_name("score", r.id) for r in rules]
    judged = [cursors[s][1] for s in streams if s in cursors]
    if len(judged) == len(streams) and now - min(judged) < SCORE_EVERY:
        return
    min_n = workspace.document.feedback.min_answers
    with kk.events.reading() as cur:
        measured = measure_scores(cur, workspace.id, rules, now, min_n)
    fired: list[Fired] = []
    moves: dict[str, int] = {}
    for rule, stream, (value, n, low, high) in zip(rules, streams, measured, strict=True):
        when = rule.when
        assert isinstance(when, OnScore)
        position = cursors.get(stream, (0, now))[0]
        moves[stream] = position  # judged now, whatever the verdict
        if value is None or n < min_n:
            continue  # not judged: too few answers in the window
        beyond = _beyond(when, value)
        if beyond == (position % 2 == 1):
            continue
        moves[stream] = position + 1
        if beyond:
            crossing = (position + 1) // 2 + 1
            done.crossings += 1
            done.matched += 1
            fired.append(Fired(rule, _crossing_cause(rule, when, crossing, now, value, n,
                                                     low, high)))
    _commit(kk.db, workspace.id, fired, moves, now, done)


def _schedules(kk: Kokemus, workspace: ActiveWorkspace, rules: list[Rule], now: datetime,
               cursors: Cursors, done: Decided) -> None:
    """Each schedule's newest tick since its cursor; a disabled one's cursor moves too, so
    that switching it on does not fire a tick it missed while off."""
    zone = workspace.document.business_hours.timezone
    minute = _minute(now)
    fired: list[Fired] = []
    moves: dict[str, int] = {}
    for rule in rules:
        when = rule.when
        assert isinstance(when, OnSchedule)
        stream = stream_name("cron", rule.id)
        position = cursors.get(stream, (0, now))[0]
        if minute <= position:
            continue
        moves[stream] = minute
        if position and rule.enabled:
            after = max(datetime.fromtimestamp(position * 60, UTC), now - CRON_CATCH_UP)
            tick, passed = cron.latest(_cron(when.cron), zone, after, now)
            done.passed_over += passed
            if tick is not None:
                done.ticks += 1
                done.matched += 1
                fired.append(Fired(rule, tick_cause(when, tick, zone)))
    if moves:
        _commit(kk.db, workspace.id, fired, moves, now, done)


# ------------------------------------------------------------------------------ matching


def match_events(cur: duckdb.DuckDBPyConnection, workspace_id: int, rules: Sequence[Rule],
                 seqs: tuple[int, int] | None = None, *,
                 period: tuple[datetime, datetime] | None = None,
                 stale_before: datetime | None = None) -> list[tuple[Rule, Cause, bool]]:
    """Every (rule, event, stale) of the event and promise rules in one query: events with
    seq in (seqs[0], seqs[1]], or occurred in [period[0], period[1]]; `stale`: the event
    occurred before `stale_before`.

    The rules go in as data, not as SQL: one row per condition (`conditions`), joined to
    the events on their type, each row's test picked by its operator in one fixed
    expression (MATCH), and an (event, rule) kept when all of its rows hold. The SQL text is
    the same for any rules, so DuckDB binds and plans it in a few milliseconds; a UNION of a
    branch per rule took 90 ms for 94 rules, more than matching a thousand events."""
    table, paths = conditions(rules)
    if table.num_rows == 0:
        return []
    scope_params: list[Any]
    if seqs is not None:
        scope, scope_params = "seq > ? AND seq <= ?", [seqs[0], seqs[1]]
    elif period is not None:
        scope, scope_params = "occurred_at >= ? AND occurred_at <= ?", [*period]
    else:
        raise ValueError("match_events needs seqs or a period")
    types = sorted(set(table["type"].to_pylist()))
    cur.register("rule_conditions", table)
    try:
        rows = cur.execute(f"""
            WITH fresh AS MATERIALIZED (
                SELECT seq, id, type, customer, channel, touchpoint, occurred_at, properties,
                       json_extract(properties, ?) AS v
                FROM events WHERE workspace_id = ? AND {scope} AND list_contains(?, type)),
            pairs AS (
                SELECT c.rule, f.seq, c.op, c.numbers, c.texts, c.texts_bool, c.bound, c.flag,
                       list_extract(f.v, c.slot) AS x, list_extract(f.v, c.slot2) AS x2
                FROM fresh AS f JOIN rule_conditions AS c USING (type)),
            typed AS (SELECT *, json_type(x) AS k, x ->> '$' AS s, TRY_CAST(x AS DOUBLE) AS n
                      FROM pairs),
            matched AS (SELECT rule, seq FROM typed GROUP BY rule, seq HAVING bool_and({MATCH}))
            SELECT m.rule, f.id, f.type, f.customer, f.channel, f.touchpoint, f.occurred_at,
                   f.properties
            FROM matched AS m JOIN fresh AS f USING (seq)
            ORDER BY f.occurred_at, m.rule, f.id
        """, [paths or ["$"], workspace_id, *scope_params, types]).fetchall()
    finally:
        cur.unregister("rule_conditions")
    stale = stale_before.astimezone(UTC) if stale_before is not None else None
    found: list[tuple[Rule, Cause, bool]] = []
    for index, ident, kind, customer, channel, touchpoint, occurred_at, properties in rows:
        at = occurred_at.astimezone(UTC)
        cause = Cause(ident, kind, at, customer, channel, touchpoint,
                      orjson.loads(properties) if properties else {})
        found.append((rules[index], cause, stale is not None and at < stale))
    return found


# One condition row's test of its event, by its operator: `x` is the property's JSON value
# (NULL when missing), `k` its JSON type ('NULL' for a JSON null), `s` its text, `n` its
# number. A property compares as its JSON type: numbers as numbers (1 = 1.0), a string
# only with a string, true only with true. `ne` and `not_in` also hold when the property is
# missing or null; `exists` means present and not null; `lt`..`gte` need a number. (Named
# columns, not the expressions repeated: binding the expanded expression took 7 ms.)
_NUMBER = "k IN ('UBIGINT', 'BIGINT', 'DOUBLE')"
_EQUALS = (f"coalesce((k = 'BOOLEAN' AND list_contains(texts_bool, s)) "
           f"OR ({_NUMBER} AND list_contains(numbers, n)) "
           f"OR (k = 'VARCHAR' AND list_contains(texts, s)), false)")
MATCH = f"""CASE op
                WHEN 'any' THEN true
                WHEN 'eq' THEN {_EQUALS}
                WHEN 'ne' THEN NOT {_EQUALS}
                WHEN 'lt' THEN coalesce({_NUMBER} AND n < bound, false)
                WHEN 'lte' THEN coalesce({_NUMBER} AND n <= bound, false)
                WHEN 'gt' THEN coalesce({_NUMBER} AND n > bound, false)
                WHEN 'gte' THEN coalesce({_NUMBER} AND n >= bound, false)
                WHEN 'exists' THEN coalesce(k <> 'NULL', false) = flag
                WHEN 'commitment' THEN coalesce(list_contains(texts, s || '.' || (x2 ->> '$')),
                                                false)
            END"""
_CONDITIONS = pa.schema([
    ("rule", pa.int32()), ("type", pa.string()), ("op", pa.string()), ("slot", pa.int32()),
    ("slot2", pa.int32()), ("numbers", pa.list_(pa.float64())),
    ("texts", pa.list_(pa.string())), ("texts_bool", pa.list_(pa.string())),
    ("bound", pa.float64()), ("flag", pa.bool_()),
])


_COMPILED: dict[tuple[int, ...], tuple[Sequence[Rule], pa.Table, list[str]]] = {}


def conditions(rules: Sequence[Rule]) -> tuple[pa.Table, list[str]]:
    """The event and promise rules as condition rows (one `any` row for a rule with no
    condition; `in` is an `eq` of several values, `not_in` a `ne`), and the JSON paths
    their `slot`s index (1-based). Made once per set of rule objects (a workspace version
    parsed once keeps them), not on every run."""
    key = tuple(id(r) for r in rules)
    found = _COMPILED.get(key)
    if found is not None and all(a is b for a, b in zip(found[0], rules, strict=True)):
        return found[1], found[2]
    table, paths = _compiled(rules)
    if len(_COMPILED) >= 32:
        _COMPILED.clear()
    _COMPILED[key] = (list(rules), table, paths)  # the rules held: their ids stay theirs
    return table, paths


def _compiled(rules: Sequence[Rule]) -> tuple[pa.Table, list[str]]:
    paths: dict[str, int] = {}
    rows: list[dict[str, Any]] = []

    def row(index: int, kind: str, op: str, **fields: Any) -> None:
        rows.append({"rule": index, "type": kind, "op": op, "slot": 1, "slot2": None,
                     "numbers": None, "texts": None, "texts_bool": None, "bound": None,
                     "flag": None, **fields})

    for index, rule in enumerate(rules):
        when = rule.when
        if isinstance(when, OnEvent):
            row(index, when.event, "any")
            for key, condition in when.where.items():
                slot = _slot(paths, key)
                checks: list[tuple[str, Any]] = (
                    condition.checks() if isinstance(condition, Compare)
                    else [("eq", condition)])
                for op, operand in checks:
                    if op in ("eq", "ne", "in", "not_in"):
                        values = list(operand) if op in ("in", "not_in") else [operand]
                        row(index, when.event, "eq" if op in ("eq", "in") else "ne",
                            slot=slot, **_typed(values))
                    elif op == "exists":
                        row(index, when.event, "exists", slot=slot, flag=bool(operand))
                    else:
                        row(index, when.event, op, slot=slot, bound=float(operand))
        elif isinstance(when, OnPromise):
            kind = _STATES[when.state]
            row(index, kind, "any")
            if when.commitments:
                row(index, kind, "commitment", slot=_slot(paths, "promise"),
                    slot2=_slot(paths, "commitment"), texts=list(when.commitments))
    return pa.Table.from_pylist(rows, schema=_CONDITIONS), list(paths)


def _typed(values: list[Any]) -> dict[str, list[Any]]:
    """Operands by JSON type: true/false as text, numbers as doubles, strings."""
    return {
        "texts_bool": [str(v).lower() for v in values if isinstance(v, bool)],
        "numbers": [float(v) for v in values
                    if isinstance(v, int | float) and not isinstance(v, bool)],
        "texts": [v for v in values if isinstance(v, str)],
    }


def _slot(paths: dict[str, int], key: str) -> int:
    """The place of property `key`'s path in the extracted list (added once)."""
    path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if path not in paths:
        paths[path] = len(paths) + 1
    return paths[path]


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


_OPS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


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
    """The pairs whose customer meets the rule's segments, roles and consent and is not
    in its holdout; how many did not."""
    wanting = {c.customer for r, c in pairs if _targets(r) and c.customer is not None}
    people = triggers.targeting(db, workspace_id, wanting) if wanting else {}
    purposes = {r.when.consent for r, _ in pairs
                if isinstance(r.when, OnEvent) and r.when.consent is not None}
    allowed = {purpose: consents.allowed(
        db, workspace_id, {c.customer for r, c in pairs if isinstance(r.when, OnEvent)
                           and r.when.consent == purpose and c.customer is not None},
        purpose) for purpose in purposes}
    kept: list[Fired] = []
    for rule, cause in pairs:
        if rule.holdout and rule.holds_out(cause.customer):
            continue  # the rule's control group: left out, counted with the untargeted
        when = rule.when
        if isinstance(when, OnEvent):
            person = people.get(cause.customer or "")
            if (when.segments or when.roles) and not triggers.in_target(
                    when.segments, when.roles, person):
                continue
            if when.consent is not None and cause.customer not in allowed[when.consent]:
                continue
        kept.append(Fired(rule, cause))
    return kept, len(pairs) - len(kept)


def _targets(rule: Rule) -> bool:
    when = rule.when
    return isinstance(when, OnEvent) and bool(when.segments or when.roles)


# ------------------------------------------------------------------------------- storing


def _commit(db: Engine, workspace_id: int, fired: list[Fired], moves: dict[str, int],
            now: datetime, done: Decided) -> None:
    """The action rows of `fired` and the cursors' moves, in one transaction."""
    params: dict[int, Any] = {}
    rows = [row for f in fired for row in f.rows(workspace_id, now, params)]
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


def _cursors(db: Engine, workspace_id: int) -> Cursors:
    """Every stream's cursor of the workspace, in one query."""
    with db.connect() as conn:
        return {str(stream): (int(position), updated_at) for stream, position, updated_at in
                conn.execute(select(rule_cursors.c.stream, rule_cursors.c.position,
                                    rule_cursors.c.updated_at).where(
                    rule_cursors.c.workspace_id == workspace_id))}


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
    not_targeted: int = 0  # ... outside its segments, roles or consent, or held out


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
