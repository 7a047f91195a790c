"""Survey triggers: events stored since the last run become planned invitations.

Each workspace keeps a cursor, the event store's sequence number up to which its triggers
have looked. A run reads the events after it, matches them to the surveys' triggers in
DuckDB (type, and `where` on the JSON properties), keeps the customers in the trigger's
segments and roles, draws the sample, and inserts one planned invitation per (survey,
event) together with the new cursor in one app-store transaction. Planning the same events
twice creates nothing twice: the invitation's key is (workspace, survey, event).

The sample is drawn from md5(survey id ":" event id), not at random, so planning again (a
crash before the commit, a rebuilt app store) makes the same choice. Events too old to ask
about (their link would have expired by the time they are due) are not invited. Customers
are looked up when their event is planned: a customer imported after the event does not
count for a segment or role condition. A trigger added to a workspace acts on events
stored from then on (and on those after the cursor, if the workspace had triggers before).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.bootstrap import Kokemus
from kokemus.domain.surveys import Survey, Trigger
from kokemus.services import workspaces
from kokemus.services.feedback import new_id
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import customers, invitations, trigger_cursors

_CHUNK = 5_000  # customers looked up per query (SQLite binds at most 32,766 parameters)


@dataclass
class Planned:
    """What a planning run did, summed over workspaces."""

    events: int = 0  # events read after the cursors
    matched: int = 0  # (survey, event) pairs whose event type and properties match
    invited: int = 0  # invitations planned now
    again: int = 0  # planned by an earlier run already
    too_old: int = 0  # the link would have expired before the invitation is due
    not_sampled: int = 0
    not_targeted: int = 0  # customer outside the trigger's segments or roles

    def add(self, other: Planned) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def plan(kk: Kokemus, now: datetime | None = None) -> Planned:
    """Plan invitations for the events stored since the last run, in every workspace."""
    now = (now or datetime.now(UTC)).astimezone(UTC)  # SQLite compares stored UTC as text
    total = Planned()
    for slug in workspaces.slugs(kk.db):
        total.add(plan_workspace(kk, workspaces.get(kk.db, slug), now))
    return total


def plan_workspace(kk: Kokemus, workspace: ActiveWorkspace, now: datetime) -> Planned:
    surveys = [s for s in workspace.document.surveys if s.trigger is not None and s.enabled]
    done = Planned()
    if not surveys:
        return done
    start = _cursor(kk.db, workspace.id)
    link_seconds = workspace.document.feedback.link_seconds
    with kk.events.reading() as cur:
        # The upper bound is read first: events appended meanwhile wait for the next run,
        # and the cursor moves exactly over what was matched.
        row = cur.execute("SELECT max(seq), count(*) FROM events WHERE workspace_id = ? "
                          "AND seq > ?", [workspace.id, start]).fetchone()
        if row is None or row[0] is None:
            return done
        end, done.events = int(row[0]), int(row[1])
        sql, params = _match_sql(surveys, link_seconds, now)
        found = cur.execute(sql, [workspace.id, start, end, *params]).fetchall()
    done.matched = len(found)
    live = [r for r in found if not r[5]]
    done.too_old = len(found) - len(live)
    drawn = [r for r in live if r[6]]
    done.not_sampled = len(live) - len(drawn)
    by_id = {s.id: s for s in surveys}
    people = targeting(kk.db, workspace.id, {r[2] for r in drawn}) if any(
        _targets(s.trigger) for s in surveys) else {}
    rows: list[dict[str, Any]] = []
    for survey_id, event_id, customer, touchpoint, occurred_at, _late, _drawn in drawn:
        survey = by_id[survey_id]
        trigger = survey.trigger
        assert trigger is not None
        if _targets(trigger) and not in_target(trigger.segments, trigger.roles,
                                               people.get(customer)):
            done.not_targeted += 1
            continue
        rows.append(_invitation(workspace.id, survey, trigger, event_id, customer, touchpoint,
                                occurred_at.astimezone(UTC), now))
    with kk.db.begin() as conn:
        before = _count(conn, workspace.id)
        if rows:
            conn.execute(_insert(kk.db).on_conflict_do_nothing(
                index_elements=["workspace_id", "survey", "event_id"]), rows)
        done.invited = _count(conn, workspace.id) - before
        done.again = len(rows) - done.invited
        _move_cursor(kk.db, conn, workspace.id, end, now)
    return done


def draw(survey_id: str, event_id: str) -> float:
    """The sampling draw of a (survey, event) in [0, 1): the SQL's md5 formula in Python."""
    return int(hashlib.md5(f"{survey_id}:{event_id}".encode()).hexdigest()[:15], 16) / 2 ** 60


def _match_sql(surveys: list[Survey], link_seconds: float,
               now: datetime) -> tuple[str, list[Any]]:
    """One query for all triggered surveys: per matching (survey, event) the event's fields,
    whether it is too old to invite, and whether the sample draws it."""
    parts: list[str] = []
    params: list[Any] = []
    for survey in surveys:
        trigger = survey.trigger
        assert trigger is not None
        conditions = ["type = ?"]
        params += [survey.id, trigger.delay_seconds + link_seconds, now, survey.id,
                   trigger.sample, trigger.event]
        for key, value in trigger.where.items():
            condition, values = _property_equals(key, value)
            conditions.append(condition)
            params += values
        parts.append(
            "SELECT ? AS survey, id, customer, touchpoint, occurred_at, "
            "occurred_at + to_seconds(?::DOUBLE) < ?::TIMESTAMPTZ AS late, "
            "CAST('0x' || left(md5(? || ':' || id), 15) AS BIGINT) / 2.0 ^ 60 < ? AS drawn "
            f"FROM fresh WHERE {' AND '.join(conditions)}")
    sql = ("WITH fresh AS (SELECT id, type, customer, touchpoint, occurred_at, properties, seq "
           "FROM events WHERE workspace_id = ? AND seq > ? AND seq <= ?) "
           + " UNION ALL ".join(parts) + " ORDER BY occurred_at, survey, id")
    return sql, params


def _property_equals(key: str, value: int | str | bool) -> tuple[str, list[Any]]:
    """An SQL condition that the JSON property `key` equals `value`, of the same JSON type
    (the string "1" is not the number 1)."""
    path = '$."' + key.replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return ("(json_type(properties, ?) = 'BOOLEAN' AND "
                "json_extract_string(properties, ?) = ?)", [path, path, str(value).lower()])
    if isinstance(value, int):
        return ("(json_type(properties, ?) IN ('UBIGINT', 'BIGINT', 'DOUBLE') AND "
                "CAST(json_extract(properties, ?) AS DOUBLE) = ?)", [path, path, value])
    return ("(json_type(properties, ?) = 'VARCHAR' AND "
            "json_extract_string(properties, ?) = ?)", [path, path, value])


def _targets(trigger: Trigger | None) -> bool:
    return trigger is not None and bool(trigger.segments or trigger.roles)


def in_target(segments: Sequence[str], roles: Sequence[str],
              person: tuple[list[str], str | None] | None) -> bool:
    """Whether a customer (their segments and buying role, from `targeting`) is in one of
    `segments` (any, when none are named) and has one of `roles` (any, when none)."""
    if person is None:
        return False
    held, role = person
    if segments and not set(segments) & set(held):
        return False
    return not roles or role in roles


def targeting(db: Engine, workspace_id: int,
               ids: set[str]) -> dict[str, tuple[list[str], str | None]]:
    """Segments and buying role of the given customers, a query per few thousand of them."""
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


def _invitation(workspace_id: int, survey: Survey, trigger: Trigger, event_id: str,
                customer: str, touchpoint: str | None, occurred_at: datetime,
                now: datetime) -> dict[str, Any]:
    return {
        "id": new_id(), "workspace_id": workspace_id, "survey": survey.id,
        "customer": customer, "touchpoint": survey.touchpoint or touchpoint,
        "channel": trigger.channel, "event_id": event_id, "event_type": trigger.event,
        "occurred_at": occurred_at,
        "due_at": occurred_at + timedelta(seconds=trigger.delay_seconds),
        "status": "planned", "reason": None, "attempts": 0, "sent_at": None,
        "expires_at": None, "opened_at": None, "answered_at": None, "created_at": now,
    }


def _insert(db: Engine) -> Any:
    return (pg_insert if db.dialect.name == "postgresql" else sqlite_insert)(invitations)


def _count(conn: Connection, workspace_id: int) -> int:
    return int(conn.execute(select(func.count()).select_from(invitations).where(
        invitations.c.workspace_id == workspace_id)).scalar() or 0)


def _cursor(db: Engine, workspace_id: int) -> int:
    with db.connect() as conn:
        seq = conn.execute(select(trigger_cursors.c.seq).where(
            trigger_cursors.c.workspace_id == workspace_id)).scalar()
    return int(seq or 0)


def _move_cursor(db: Engine, conn: Connection, workspace_id: int, seq: int,
                 now: datetime) -> None:
    dialect_insert = pg_insert if db.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(trigger_cursors).values(workspace_id=workspace_id, seq=seq,
                                                  updated_at=now)
    # never backwards: a slower run that read less must not undo a faster one's progress
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["workspace_id"],
        set_={"seq": func.max(trigger_cursors.c.seq, stmt.excluded.seq)
              if db.dialect.name == "sqlite" else func.greatest(trigger_cursors.c.seq,
                                                                stmt.excluded.seq),
              "updated_at": stmt.excluded.updated_at}))
