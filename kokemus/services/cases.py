"""Cases for the owning departments: open, assign, move, note, escalate, follow up.

What every path keeps:

- A case is opened once per cause: a rule's case is keyed by its outbox row (`action_id`,
  unique), so the delivery worker delivering an action again (a crash before its commit, a
  second worker) finds the case it opened and opens none. `open_case` writes in the
  caller's transaction and commits nothing, so the outbox row's `done` and the case are one
  commit.
- Every change is a row of `case_events` with who (`actor`: user:NAME, key:PREFIX,
  cli:NAME, rule:ID, engine; `author` when it is a user) and when, in the same transaction
  as the change. A state change is guarded by the state it read (`WHERE state = ...`): two
  people moving one case at once get one move and one "changed meanwhile".
- States move only along domain/cases.py's MOVES; any other move is refused naming the
  moves there are.
- The SLA clock runs from opening to `sla_due_at` (the rule's `sla`, else the workspace's
  `cases.sla` for the priority). The escalation pass (`escalate`, run by the worker) marks
  an open case at risk once its `cases.at_risk` share is used and breached once the due
  time passes, each once: an event `case_at_risk` / `case_breached` in the event store
  (its id `<type>:<case id>`, which the store keeps once, as the promise clocks' marks are
  kept), then `cases.escalated` moved under a guard on its old value and the history row
  written by whichever pass moved it. Rules may trigger on the events like any other.
- Resolving a case of a customer plans the workspace's follow-up survey (`cases.follow_up`)
  as an invitation keyed (workspace, survey, `case:<id>`): resolving it again after a
  reopen invites nobody twice.

Who sees which case: owners, editors, analysts, administrators, API keys and the command
line see every case of the workspace; an agent sees the cases of the departments they work
for (`memberships.departments`, set by an owner on the members page or with `kokemus cases
departments`), and for them any other case does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy import update as update_rows
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.analytics import recovery as recovery_counts
from kokemus.domain import cases as domain
from kokemus.domain import scores
from kokemus.domain.cases import AT_RISK, BREACHED, OPEN, BadMove, CasePolicy
from kokemus.domain.durations import parse_duration
from kokemus.domain.errors import Invalid, KokemusError, NotFound
from kokemus.domain.events import CASE_AT_RISK, CASE_BREACHED
from kokemus.domain.roles import Permission, Role
from kokemus.domain.scores import Score
from kokemus.domain.texts import LANGUAGES, Text, localized
from kokemus.services import audit
from kokemus.services import workspaces as workspace_service
from kokemus.services.feedback import new_id
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.events import SCHEMA, EventStore
from kokemus.storage.tables import (
    case_events,
    cases,
    invitations,
    memberships,
    users,
    workspaces,
)

MAX_TITLE = 300
MAX_NOTE = 10_000
MAX_LIST = 500
NUMBER_TRIES = 20  # a case number taken by a concurrent opening: the next one is tried
FALLBACK_CHANNEL = "case"  # an escalation event's channel when the customer has no events


class Conflict(KokemusError):
    """The case changed between reading and writing it: read it again."""


@dataclass(frozen=True)
class Actor:
    """Who does something to a case: a name as the audit log writes it, and the user's id
    when it is a person who signs in."""

    name: str
    user_id: int | None = None


ENGINE = Actor("engine")


@dataclass(frozen=True)
class Reach:
    """Which cases someone may see: all of the workspace's, or those of some departments."""

    everything: bool
    departments: frozenset[str] = frozenset()

    def sees(self, department: str) -> bool:
        return self.everything or department in self.departments


EVERYTHING = Reach(True)


@dataclass(frozen=True)
class Case:
    id: str
    number: int
    department: str
    title: Text
    customer: str | None
    account: str | None
    state: str
    priority: str
    assignee: str | None  # the user's name
    assignee_id: int | None
    rule: str | None
    cause: str | None
    action_id: str | None
    sla_due_at: datetime | None
    escalated: str | None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    closed_at: datetime | None

    def title_in(self, language: str) -> str:
        return localized(self.title, language)

    def sla(self, now: datetime, at_risk: float) -> str | None:
        """Where the SLA clock stands now: ok, at_risk, breached; None without an SLA or
        once the case is resolved or closed."""
        if self.sla_due_at is None or self.state not in OPEN:
            return None
        if now >= self.sla_due_at:
            return BREACHED
        if now >= risk_moment(self.created_at, self.sla_due_at, at_risk):
            return AT_RISK
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "number": self.number, "department": self.department,
            "title": self.title, "customer": self.customer, "account": self.account,
            "state": self.state, "priority": self.priority, "assignee": self.assignee,
            "rule": self.rule, "cause": self.cause, "sla_due_at": self.sla_due_at,
            "escalated": self.escalated, "created_at": self.created_at,
            "updated_at": self.updated_at, "resolved_at": self.resolved_at,
            "closed_at": self.closed_at,
        }


@dataclass(frozen=True)
class Entry:
    """One line of a case's history."""

    kind: str  # opened, assigned, state, note, escalated, followup
    at: datetime
    actor: str | None
    author: str | None  # the user's name, when a user did it
    body: str | None
    state: str | None
    assignee: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "at": self.at, "actor": self.actor, "body": self.body,
                "state": self.state, "assignee": self.assignee}


@dataclass
class Escalated:
    """What an escalation pass did, summed over workspaces."""

    at_risk: int = 0  # cases marked at risk now
    breached: int = 0  # cases marked breached now
    events: int = 0  # case_at_risk / case_breached events stored now


# ------------------------------------------------------------------------------ titles


def stored_title(title: Text) -> str:
    """A title as the `cases.title` column keeps it: plain text, or a title per language
    as a JSON object (each language's text shortened so that the whole fits)."""
    if isinstance(title, str):
        text = title.strip()
        if not text:
            raise Invalid("a case's title has 1 to 300 characters")
        return text[:MAX_TITLE]
    texts = {lang: value.strip() for lang, value in title.items() if value.strip()}
    if not texts:
        raise Invalid("a case's title has 1 to 300 characters")
    room = (MAX_TITLE - 12 * len(texts)) // len(texts)
    while True:
        encoded = orjson.dumps({k: v[:room] for k, v in texts.items()}).decode()
        if len(encoded) <= MAX_TITLE:  # escaped characters take more room: shorten again
            return encoded
        room -= 10


def read_title(stored: str) -> Text:
    """The title a row keeps: a JSON object of languages, or plain text."""
    if stored.startswith('{"'):
        try:
            value = orjson.loads(stored)
        except orjson.JSONDecodeError:
            return stored
        if (isinstance(value, dict) and value and set(value) <= set(LANGUAGES)
                and all(isinstance(v, str) for v in value.values())):
            return value
    return stored


# ------------------------------------------------------------------------------ the SLA


def risk_moment(created_at: datetime, due_at: datetime, share: float) -> datetime:
    """When a case opened at `created_at` and due at `due_at` becomes at risk."""
    return created_at + (due_at - created_at) * share


def due_at(policy: CasePolicy, priority: str, now: datetime,
           sla: str | None = None) -> datetime | None:
    """When a case opened `now` must be resolved: the rule's `sla` (a duration) when it
    has one, else the workspace policy's for the priority; None: no SLA."""
    seconds = parse_duration(sla) if sla is not None else policy.sla.seconds(priority)
    return None if seconds is None else now + timedelta(seconds=seconds)


def _policy(conn: Connection, workspace_id: int) -> ActiveWorkspace:
    version = conn.execute(select(workspaces.c.version).where(
        workspaces.c.id == workspace_id)).scalar()
    if version is None:
        raise NotFound(f"no workspace with id {workspace_id}")
    return workspace_service.at_version(conn, workspace_id, int(version))


# ------------------------------------------------------------------------------ opening


def _dialect_insert(conn: Connection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _check_priority(priority: str) -> None:
    if priority not in domain.PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(domain.PRIORITIES)}; "
                      f"got '{priority}'")


def open_case(conn: Connection, workspace_id: int, *, department: str, title: Text,
              customer: str | None, account: str | None, priority: str, rule: str | None,
              cause: str | None, action_id: str | None, sla_due_at: datetime | None,
              now: datetime, actor: Actor | None = None) -> str:
    """Open a case in the caller's transaction (nothing is committed here) and return its
    id. With an `action_id` (the outbox row of a rule's `case` action) it is idempotent:
    the case that action opened before is returned and nothing is written.

    `sla_due_at`: when it must be resolved (a rule's `sla` from now, see `due_at`); None:
    the workspace's `cases.sla` for the priority (which may be none)."""
    now = now.astimezone(UTC)
    _check_priority(priority)
    if action_id is not None:
        found = conn.execute(select(cases.c.id).where(cases.c.action_id == action_id)).scalar()
        if found is not None:
            return str(found)
    if sla_due_at is None:
        sla_due_at = due_at(_policy(conn, workspace_id).document.cases, priority, now)
    title_text = stored_title(title)
    case_id = new_id()
    given = {"id": case_id, "workspace_id": workspace_id, "department": department,
             "title": title_text, "customer": customer, "account": account, "state": "new",
             "priority": priority, "rule": rule, "cause": None if cause is None else cause[:200],
             "action_id": action_id, "sla_due_at": sla_due_at, "created_at": now,
             "updated_at": now}
    # the columns left out are NULL (a NULL parameter in a SELECT list has no type on
    # PostgreSQL, which then refuses it for a column of another type than text)
    values = {k: v for k, v in given.items() if v is not None}
    names = list(values)
    number = (func.coalesce(func.max(cases.c.number), 0) + 1).label("number")
    chosen = select(*(literal(v, cases.c[k].type).label(k) for k, v in values.items()),
                    number).where(cases.c.workspace_id == workspace_id)
    statement = _dialect_insert(conn)(cases).from_select([*names, "number"], chosen)
    for _ in range(NUMBER_TRIES):
        # the number is the workspace's next, counted in the insert itself; a concurrent
        # opening that took it first (or opened this very action) makes this one insert
        # nothing, and the loop looks again
        inserted = conn.execute(statement.on_conflict_do_nothing().returning(cases.c.id))
        if inserted.first() is not None:
            break
        if action_id is not None:
            found = conn.execute(select(cases.c.id).where(
                cases.c.action_id == action_id)).scalar()
            if found is not None:
                return str(found)
    else:
        raise Conflict("could not number the case: too many opened at once; try again")
    who = actor or (Actor(f"rule:{rule}") if rule else ENGINE)
    _event(conn, case_id, "opened", who, now, state="new")
    return case_id


def open_by_person(db: Engine, workspace: ActiveWorkspace, *, department: str, title: Text,
                   customer: str | None = None, account: str | None = None,
                   priority: str = "normal", actor: Actor, reach: Reach = EVERYTHING,
                   sla: str | None = None, now: datetime | None = None) -> Case:
    """A case a person opens (the web form, the command line), for a department of the
    workspace they may work for."""
    departments = {d.id for d in workspace.document.departments}
    if department not in departments:
        listed = ", ".join(sorted(departments)) or "none defined"
        raise Invalid(f"department: no department '{department}' (known: {listed})")
    if not reach.sees(department):
        raise Invalid(f"department: you do not work for '{department}'")
    customer = (customer or "").strip() or None
    account = (account or "").strip() or None
    for name, value in (("customer", customer), ("account", account)):
        if value is not None and len(value) > 200:
            raise Invalid(f"{name}: at most 200 characters")
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    if sla is not None:
        try:
            parse_duration(sla)
        except ValueError as exc:
            raise Invalid(f"sla: {exc}") from None
    _check_priority(priority)
    with db.begin() as conn:
        case_id = open_case(
            conn, workspace.id, department=department, title=title, customer=customer,
            account=account, priority=priority, rule=None, cause=None, action_id=None,
            sla_due_at=due_at(workspace.document.cases, priority, moment, sla), now=moment,
            actor=actor)
        return _get(conn, workspace.id, case_id=case_id)


# ------------------------------------------------------------------------------ reading


def _columns() -> list[Any]:
    return [*cases.c, users.c.username.label("assignee_name")]


def _case(row: RowMapping) -> Case:
    return Case(
        id=row["id"], number=row["number"], department=row["department"],
        title=read_title(row["title"]), customer=row["customer"], account=row["account"],
        state=row["state"], priority=row["priority"], assignee=row["assignee_name"],
        assignee_id=row["assignee"], rule=row["rule"], cause=row["cause"],
        action_id=row["action_id"], sla_due_at=row["sla_due_at"],
        escalated=row["escalated"], created_at=row["created_at"],
        updated_at=row["updated_at"], resolved_at=row["resolved_at"],
        closed_at=row["closed_at"])


def _get(conn: Connection, workspace_id: int, *, number: int | None = None,
         case_id: str | None = None, reach: Reach = EVERYTHING) -> Case:
    query = (select(*_columns()).select_from(cases.outerjoin(users,
                                                             users.c.id == cases.c.assignee))
             .where(cases.c.workspace_id == workspace_id))
    if case_id is not None:
        query = query.where(cases.c.id == case_id)
    else:
        query = query.where(cases.c.number == number)
    row = conn.execute(query).mappings().first()
    # a case of a department outside the reader's reach does not exist for them
    if row is None or not reach.sees(row["department"]):
        raise NotFound(f"no case {number if number is not None else case_id}")
    return _case(row)


def get(db: Engine, workspace_id: int, number: int, *, reach: Reach = EVERYTHING) -> Case:
    with db.connect() as conn:
        return _get(conn, workspace_id, number=number, reach=reach)


def history(db: Engine, case: Case) -> list[Entry]:
    """The case's history, oldest first."""
    authors = users.alias("authors")
    given = users.alias("given")
    with db.connect() as conn:
        rows = conn.execute(
            select(case_events.c.kind, case_events.c.at, case_events.c.actor,
                   authors.c.username.label("author"), case_events.c.body,
                   case_events.c.state, given.c.username.label("assignee"))
            .select_from(case_events.outerjoin(authors, authors.c.id == case_events.c.author)
                         .outerjoin(given, given.c.id == case_events.c.assignee))
            .where(case_events.c.case_id == case.id)
            .order_by(case_events.c.at, case_events.c.id)).mappings().all()
    return [Entry(**dict(r)) for r in rows]


@dataclass(frozen=True)
class Filters:
    """What a list of cases is narrowed to; every field given must hold."""

    departments: Sequence[str] = ()
    states: Sequence[str] = ()
    open_only: bool = False  # new, assigned, in progress or waiting
    assignee: int | None = None  # a user's id
    unassigned: bool = False
    customer: str | None = None
    account: str | None = None
    escalated: str | None = None  # at_risk, breached
    updated_since: datetime | None = None  # oldest change first, for a mirror


def listing(db: Engine, workspace_id: int, filters: Filters, *, reach: Reach = EVERYTHING,
            limit: int = 50, offset: int = 0) -> tuple[list[Case], int]:
    """The cases the filters and the reach let through, and how many there are: the newest
    first, or (with `updated_since`) the least recently changed first."""
    where = [cases.c.workspace_id == workspace_id]
    if not reach.everything:
        where.append(cases.c.department.in_(sorted(reach.departments)))
    if filters.departments:
        where.append(cases.c.department.in_(list(filters.departments)))
    if filters.states:
        where.append(cases.c.state.in_(list(filters.states)))
    if filters.open_only:
        where.append(cases.c.state.in_(OPEN))
    if filters.assignee is not None:
        where.append(cases.c.assignee == filters.assignee)
    if filters.unassigned:
        where.append(cases.c.assignee.is_(None))
    if filters.customer is not None:
        where.append(cases.c.customer == filters.customer)
    if filters.account is not None:
        where.append(cases.c.account == filters.account)
    if filters.escalated is not None:
        where.append(cases.c.escalated == filters.escalated)
    if filters.updated_since is not None:
        where.append(cases.c.updated_at >= filters.updated_since.astimezone(UTC))
        order: list[Any] = [cases.c.updated_at, cases.c.number]
    else:
        order = [cases.c.number.desc()]
    with db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(cases).where(*where)).scalar()
        rows = conn.execute(
            select(*_columns()).select_from(cases.outerjoin(users,
                                                            users.c.id == cases.c.assignee))
            .where(*where).order_by(*order).limit(min(limit, MAX_LIST)).offset(offset)
        ).mappings().all()
    return [_case(r) for r in rows], int(total or 0)


def counts(db: Engine, workspace_id: int, *, reach: Reach = EVERYTHING,
           user_id: int | None = None) -> dict[str, int]:
    """Open cases per department the reach sees, and `mine` (open and assigned to
    `user_id`)."""
    where = [cases.c.workspace_id == workspace_id, cases.c.state.in_(OPEN)]
    if not reach.everything:
        where.append(cases.c.department.in_(sorted(reach.departments)))
    with db.connect() as conn:
        found = {str(d): int(n) for d, n in conn.execute(
            select(cases.c.department, func.count()).where(*where)
            .group_by(cases.c.department))}
        if user_id is not None:
            found["mine"] = int(conn.execute(select(func.count()).select_from(cases).where(
                *where, cases.c.assignee == user_id)).scalar() or 0)
    return found


def open_by_workspace(db: Engine, reaches: Mapping[int, Reach]) -> dict[int, int]:
    """Open cases in each workspace (by id), as far as its reach sees: one query for all."""
    if not reaches:
        return {}
    found = dict.fromkeys(reaches, 0)
    with db.connect() as conn:
        for workspace_id, department, n in conn.execute(
                select(cases.c.workspace_id, cases.c.department, func.count())
                .where(cases.c.workspace_id.in_(list(reaches)), cases.c.state.in_(OPEN))
                .group_by(cases.c.workspace_id, cases.c.department)):
            if reaches[workspace_id].sees(str(department)):
                found[workspace_id] += int(n)
    return found


# ------------------------------------------------------------------------------ who


def user_id(db: Engine, username: str) -> int | None:
    with db.connect() as conn:
        found = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
    return None if found is None else int(found)


def departments_of(db: Engine, user_id: int, workspace_id: int) -> frozenset[str]:
    with db.connect() as conn:
        found = conn.execute(select(memberships.c.departments).where(
            memberships.c.user_id == user_id,
            memberships.c.workspace_id == workspace_id)).scalar()
    return frozenset(found or [])


def reach_of(db: Engine, user_id: int, workspace_id: int, role: Role | None) -> Reach:
    """An agent reaches the cases of their departments; every other role (and an instance
    administrator, role None) all of them."""
    if role is not Role.AGENT:
        return EVERYTHING
    return Reach(False, departments_of(db, user_id, workspace_id))


def set_departments(db: Engine, workspace: ActiveWorkspace, username: str,
                    departments: Iterable[str], *, actor: str = "system") -> list[str]:
    """The departments whose cases `username` works in the workspace (replacing those they
    had); they must hold a role there. Written to the audit log."""
    known = [d.id for d in workspace.document.departments]
    chosen = sorted(set(departments))
    unknown = [d for d in chosen if d not in known]
    if unknown:
        raise Invalid(f"no department '{unknown[0]}' in workspace '{workspace.slug}' "
                      f"(known: {', '.join(known) or 'none defined'})")
    with db.begin() as conn:
        user_id = conn.execute(select(users.c.id).where(users.c.username == username)).scalar()
        if user_id is None:
            raise NotFound(f"no user '{username}'")
        done = conn.execute(update_rows(memberships).where(
            memberships.c.user_id == user_id, memberships.c.workspace_id == workspace.id
        ).values(departments=chosen))
        if done.rowcount != 1:
            raise NotFound(f"user '{username}' has no role in workspace '{workspace.slug}'")
        audit.record(conn, actor, "role.departments", workspace=workspace.slug,
                     target=username, detail={"departments": chosen})
    return chosen


def departments_by_user(db: Engine, workspace_id: int) -> dict[str, list[str]]:
    """Each member's departments (for the members page), by user name."""
    with db.connect() as conn:
        rows = conn.execute(select(users.c.username, memberships.c.departments).join(
            memberships, memberships.c.user_id == users.c.id).where(
            memberships.c.workspace_id == workspace_id)).all()
    return {name: sorted(found or []) for name, found in rows}


def assignable(db: Engine, workspace_id: int, department: str) -> list[str]:
    """The members who may be given a case of `department`: those whose role works cases
    (an agent only when they work for the department), by name."""
    with db.connect() as conn:
        rows = conn.execute(select(users.c.username, memberships.c.role,
                                   memberships.c.departments)
                            .join(memberships, memberships.c.user_id == users.c.id)
                            .where(memberships.c.workspace_id == workspace_id,
                                   users.c.disabled_at.is_(None))
                            .order_by(users.c.username)).all()
    return [name for name, role, found in rows
            if Role(role).allows(Permission.WORK)
            and (role != Role.AGENT or department in (found or []))]


def _assignee(conn: Connection, workspace_id: int, username: str,
              department: str) -> int:
    """The id of `username` when they may be given a case of `department` here."""
    row = conn.execute(select(users.c.id, users.c.is_admin, users.c.disabled_at,
                              memberships.c.role, memberships.c.departments)
                       .select_from(users.outerjoin(memberships, and_(
                           memberships.c.user_id == users.c.id,
                           memberships.c.workspace_id == workspace_id)))
                       .where(users.c.username == username)).first()
    if row is None or row.disabled_at is not None or (row.role is None and not row.is_admin):
        raise Invalid(f"assignee: no user '{username}' in this workspace")
    if row.is_admin:
        return int(row.id)
    role = Role(row.role)
    if not role.allows(Permission.WORK):
        raise Invalid(f"assignee: '{username}' is {role.value} here, and an {role.value} "
                      "does not work cases")
    if role is Role.AGENT and department not in (row.departments or []):
        theirs = ", ".join(row.departments or []) or "none"
        raise Invalid(f"assignee: '{username}' does not work for department '{department}' "
                      f"(theirs: {theirs})")
    return int(row.id)


# ------------------------------------------------------------------------------ changing


def _event(conn: Connection, case_id: str, kind: str, actor: Actor, at: datetime, *,
           body: str | None = None, state: str | None = None,
           assignee: int | None = None) -> None:
    conn.execute(insert(case_events).values(
        case_id=case_id, kind=kind, author=actor.user_id, body=body, state=state,
        assignee=assignee, actor=actor.name[:200], at=at))


def _moved(conn: Connection, case: Case, values: dict[str, Any]) -> None:
    """Write `values` to the case unless someone changed its state or assignee since it was
    read."""
    done = conn.execute(update_rows(cases).where(
        cases.c.id == case.id, cases.c.state == case.state,
        cases.c.assignee.is_(None) if case.assignee_id is None
        else cases.c.assignee == case.assignee_id).values(**values))
    if done.rowcount != 1:
        raise Conflict(f"case {case.number} changed meanwhile; read it again")


def update(db: Engine, workspace: ActiveWorkspace, number: int, *,
           assignee: str | None = None, state: str | None = None, note: str | None = None,
           actor: Actor, reach: Reach = EVERYTHING, now: datetime | None = None) -> Case:
    """Assign, move and note in one transaction, in that order: all of them or none (a
    refused move leaves the assignment undone too)."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    body = _note_text(note) if note is not None else None
    if assignee is None and state is None and body is None:
        raise Invalid("give at least one of assignee, state, note")
    with db.begin() as conn:
        case = _get(conn, workspace.id, number=number, reach=reach)
        if assignee is not None:
            case = _assign_in(conn, workspace, case, assignee, actor, moment)
        if state is not None:
            case = _move_in(conn, workspace, case, state, actor, moment)
        if body is not None:
            conn.execute(update_rows(cases).where(cases.c.id == case.id)
                         .values(updated_at=moment))
            _event(conn, case.id, "note", actor, moment, body=body)
        return _get(conn, workspace.id, case_id=case.id)


def assign(db: Engine, workspace: ActiveWorkspace, number: int, username: str, *,
           actor: Actor, reach: Reach = EVERYTHING, now: datetime | None = None) -> Case:
    """Give the case to `username` (a member who works cases of its department); a new case
    moves to assigned."""
    return update(db, workspace, number, assignee=username, actor=actor, reach=reach,
                  now=now)


def move(db: Engine, workspace: ActiveWorkspace, number: int, state: str, *, actor: Actor,
         reach: Reach = EVERYTHING, note: str | None = None,
         now: datetime | None = None) -> Case:
    """Move the case to `state` along the state machine (BadMove otherwise), with an
    optional note; resolving it plans the workspace's follow-up survey."""
    return update(db, workspace, number, state=state,
                  note=note if note is not None and note.strip() else None, actor=actor,
                  reach=reach, now=now)


def add_note(db: Engine, workspace: ActiveWorkspace, number: int, body: str, *,
             actor: Actor, reach: Reach = EVERYTHING, now: datetime | None = None) -> Case:
    """A note on the case (any state, a closed case too: what was learnt afterwards)."""
    return update(db, workspace, number, note=body, actor=actor, reach=reach, now=now)


def _assign_in(conn: Connection, workspace: ActiveWorkspace, case: Case, username: str,
               actor: Actor, now: datetime) -> Case:
    if case.state not in domain.ASSIGNABLE:
        raise BadMove(case.state, "assigned")
    user_id = _assignee(conn, workspace.id, username, case.department)
    if user_id == case.assignee_id:
        return case
    state = "assigned" if case.state == "new" else case.state
    _moved(conn, case, {"assignee": user_id, "state": state, "updated_at": now})
    _event(conn, case.id, "assigned", actor, now, assignee=user_id)
    if state != case.state:
        _event(conn, case.id, "state", actor, now, state=state)
    return _get(conn, workspace.id, case_id=case.id)


def _move_in(conn: Connection, workspace: ActiveWorkspace, case: Case, state: str,
             actor: Actor, now: datetime) -> Case:
    if state == "assigned" and case.state == "assigned":
        return case  # assigned just now, in the same update
    domain.check_move(case.state, state)
    if state == "assigned" and case.assignee_id is None:
        raise Invalid("state: a case is assigned by giving it to someone (assignee)")
    values: dict[str, Any] = {"state": state, "updated_at": now}
    if state == "resolved":
        values["resolved_at"] = now
    elif state == "closed":
        values["closed_at"] = now
    elif case.state == "resolved":  # reopened: not resolved any more
        values["resolved_at"] = None
    _moved(conn, case, values)
    _event(conn, case.id, "state", actor, now, state=state)
    if state == "resolved":
        _follow_up(conn, workspace, case, now)
    return _get(conn, workspace.id, case_id=case.id)


def _note_text(body: str) -> str:
    text = body.strip()
    if not text:
        raise Invalid("note: write something")
    if len(text) > MAX_NOTE:
        raise Invalid(f"note: at most {MAX_NOTE} characters")
    if "\x00" in text:
        raise Invalid("note: holds a NUL character, which no store keeps")
    return text


def _follow_up(conn: Connection, workspace: ActiveWorkspace, case: Case,
               now: datetime) -> None:
    """Plan the follow-up invitation of a resolved case (once per case, whatever happens
    to it later), as the survey triggers plan theirs (engine/triggers.py)."""
    policy = workspace.document.cases
    survey = workspace.document.survey(policy.follow_up) if policy.follow_up else None
    if survey is None or case.customer is None:
        return
    channel = survey.trigger.channel if survey.trigger is not None else "email"
    event_id = f"case:{case.id}"
    done = conn.execute(_dialect_insert(conn)(invitations).values(
        id=new_id(), workspace_id=workspace.id, survey=survey.id, customer=case.customer,
        touchpoint=survey.touchpoint, channel=channel, event_id=event_id,
        event_type="case_resolved", occurred_at=now,
        due_at=now + timedelta(seconds=policy.follow_up_seconds), status="planned",
        reason=None, attempts=0, sent_at=None, expires_at=None, opened_at=None,
        answered_at=None, created_at=now,
    ).on_conflict_do_nothing(index_elements=["workspace_id", "survey", "event_id"])
        .returning(invitations.c.id))
    if done.first() is not None:
        _event(conn, case.id, "followup", ENGINE, now, body=survey.id)


# ------------------------------------------------------------------------------ escalation


def escalate(db: Engine, store: EventStore, now: datetime | None = None) -> Escalated:
    """Mark the open cases whose SLA is at risk or breached, each kind once (see the module
    docstring), in every workspace."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    done = Escalated()
    with db.connect() as conn:
        rows = conn.execute(
            select(cases.c.id, cases.c.workspace_id, cases.c.number, cases.c.department,
                   cases.c.priority, cases.c.customer, cases.c.account, cases.c.rule,
                   cases.c.created_at, cases.c.sla_due_at, cases.c.escalated)
            .where(cases.c.state.in_(OPEN), cases.c.sla_due_at.is_not(None),
                   or_(cases.c.escalated.is_(None), cases.c.escalated == AT_RISK))
            .order_by(cases.c.workspace_id, cases.c.number)).mappings().all()
        shares: dict[int, float] = {}
        marks: list[tuple[RowMapping, str]] = []
        for row in rows:
            ws = row["workspace_id"]
            if ws not in shares:
                shares[ws] = _policy(conn, ws).document.cases.at_risk
            if moment >= row["sla_due_at"]:
                marks.append((row, BREACHED))
            elif row["escalated"] is None and moment >= risk_moment(
                    row["created_at"], row["sla_due_at"], shares[ws]):
                marks.append((row, AT_RISK))
    if not marks:
        return done
    done.events = _escalation_events(store, marks, moment)
    with db.begin() as conn:
        for row, kind in marks:
            guard = (cases.c.escalated.is_(None) if row["escalated"] is None
                     else cases.c.escalated == row["escalated"])
            moved = conn.execute(update_rows(cases).where(
                cases.c.id == row["id"], guard, cases.c.state.in_(OPEN)
            ).values(escalated=kind, updated_at=moment))
            if moved.rowcount == 1:  # another pass moved it first: its history row is there
                _event(conn, row["id"], "escalated", ENGINE, moment, state=kind)
                if kind == AT_RISK:
                    done.at_risk += 1
                else:
                    done.breached += 1
    return done


def _escalation_events(store: EventStore, marks: list[tuple[RowMapping, str]],
                       now: datetime) -> int:
    """Append the escalations' events (of the cases that have a customer: an event is a
    customer's); the store keeps the first of each id, so a pass repeated after a crash
    stores nothing twice. Each event takes the channel of its customer's latest event."""
    whose = [(row, kind) for row, kind in marks if row["customer"]]
    if not whose:
        return 0
    channels = _latest_channels(store, {(r["workspace_id"], r["customer"]) for r, _ in whose})
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for row, kind in whose:
        etype = CASE_AT_RISK if kind == AT_RISK else CASE_BREACHED
        columns["workspace_id"].append(row["workspace_id"])
        columns["id"].append(f"{etype}:{row['id']}")
        columns["type"].append(etype)
        columns["customer"].append(row["customer"])
        columns["account"].append(row["account"])
        columns["channel"].append(channels.get((row["workspace_id"], row["customer"]),
                                               FALLBACK_CHANNEL))
        columns["touchpoint"].append(None)
        columns["occurred_at"].append(min(row["sla_due_at"], now) if kind == BREACHED
                                      else now)
        columns["properties"].append(orjson.dumps({
            "case": row["id"], "number": row["number"], "department": row["department"],
            "priority": row["priority"], "rule": row["rule"],
            "sla_due_at": row["sla_due_at"].astimezone(UTC).isoformat()}).decode())
    return len(store.append(pa.table(columns, schema=SCHEMA)))


def _latest_channels(store: EventStore,
                     whose: set[tuple[int, str]]) -> dict[tuple[int, str], str]:
    table = pa.table({"workspace_id": pa.array([w for w, _ in whose], pa.int32()),
                      "customer": pa.array([c for _, c in whose], pa.string())})
    with store.reading(settled=False) as cursor:
        cursor.register("case_customers", table)
        try:
            rows = cursor.execute(
                "SELECT e.workspace_id, e.customer, arg_max(e.channel, (e.occurred_at, e.seq)) "
                "FROM events AS e SEMI JOIN case_customers AS c ON e.workspace_id = c.workspace_id "
                "AND e.customer = c.customer GROUP BY ALL").fetchall()
        finally:
            cursor.unregister("case_customers")
    return {(int(w), str(c)): str(ch) for w, c, ch in rows}


# ------------------------------------------------------------------------------ recovery


@dataclass(frozen=True)
class RecoveryGroup:
    """Detractors with (or without) a case: how many, the share who answered NPS again, and
    the share of those who answered again as a passive or promoter (7-10)."""

    detractors: int
    answered: Score
    recovered: Score

    def as_dict(self) -> dict[str, Any]:
        return {"detractors": self.detractors, "answered": self.answered.as_dict(),
                "recovered": self.recovered.as_dict()}


@dataclass(frozen=True)
class Recovery:
    since: datetime | None
    until: datetime
    as_of: datetime
    window_s: float
    with_case: RecoveryGroup
    without_case: RecoveryGroup
    # recovered share with a case minus without, in points, with its 95% interval
    difference: float | None
    low: float | None
    high: float | None
    enough: bool  # both groups have min_answers answers again

    def as_dict(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "as_of": self.as_of,
                "window_s": self.window_s, "with_case": self.with_case.as_dict(),
                "without_case": self.without_case.as_dict(),
                "difference": {"value": self.difference, "low": self.low, "high": self.high,
                               "enough": self.enough}}


RECOVERY_WINDOW = "30d"


def recovery(db: Engine, store: EventStore, workspace: ActiveWorkspace, *,
             since: datetime | None = None, until: datetime | None = None,
             as_of: datetime | None = None, window: str = RECOVERY_WINDOW) -> Recovery:
    """The recovery report (analytics/recovery.py counts it): the detractors of
    [since, until) who got a case against those who got none, answered again by `as_of`."""
    moment = (as_of or datetime.now(UTC)).astimezone(UTC)
    end = (until or moment).astimezone(UTC)
    start = None if since is None else since.astimezone(UTC)
    try:
        window_s = parse_duration(window)
    except ValueError as exc:
        raise Invalid(f"window: {exc}") from None
    with db.connect() as conn:
        rows = conn.execute(select(cases.c.customer, cases.c.account, cases.c.created_at)
                            .where(cases.c.workspace_id == workspace.id,
                                   cases.c.created_at < moment)).all()
    table = pa.table({"customer": pa.array([r[0] for r in rows], pa.string()),
                      "account": pa.array([r[1] for r in rows], pa.string()),
                      "opened": pa.array([r[2] for r in rows],
                                         pa.timestamp("us", tz="UTC"))})
    with store.reading() as cursor:
        found = recovery_counts.counts(cursor, workspace.id, table, since=start, until=end,
                                       as_of=moment, window_s=window_s)
    min_n = workspace.document.feedback.min_answers

    def group(g: recovery_counts.Group) -> RecoveryGroup:
        return RecoveryGroup(g.detractors,
                             scores.share("answered", g.answered, g.detractors, min_n),
                             scores.share("recovered", g.recovered, g.answered, min_n))

    a, b = found[True], found[False]
    diff = scores.difference(a.recovered, a.answered, b.recovered, b.answered)
    value, low, high = (None, None, None) if diff is None else (100 * x for x in diff)
    return Recovery(start, end, moment, window_s, group(a), group(b), value, low, high,
                    a.answered >= min_n and b.answered >= min_n)


# ------------------------------------------------------------------------------ privacy


def of_customer(conn: Connection, workspace_id: int, customer: str) -> list[dict[str, Any]]:
    """A customer's cases with their history, for the export of their data
    (services/privacy.py)."""
    found = conn.execute(
        select(*_columns()).select_from(cases.outerjoin(users, users.c.id == cases.c.assignee))
        .where(cases.c.workspace_id == workspace_id, cases.c.customer == customer)
        .order_by(cases.c.number)).mappings().all()
    out = []
    for row in found:
        case = _case(row)
        given = users.alias("given")
        history = conn.execute(
            select(case_events.c.kind, case_events.c.at, case_events.c.actor,
                   case_events.c.body, case_events.c.state,
                   given.c.username.label("assignee"))
            .select_from(case_events.outerjoin(given, given.c.id == case_events.c.assignee))
            .where(case_events.c.case_id == case.id)
            .order_by(case_events.c.at, case_events.c.id)).mappings().all()
        out.append({**case.as_dict(), "history": [dict(h) for h in history]})
    return out


def erase_customer(conn: Connection, workspace_id: int, customer: str) -> int:
    """Delete a customer's cases and their history (notes say things about the person) in
    the erasure's transaction; how many cases went."""
    ids = list(conn.execute(select(cases.c.id).where(
        cases.c.workspace_id == workspace_id, cases.c.customer == customer)).scalars())
    if ids:
        conn.execute(delete(case_events).where(case_events.c.case_id.in_(ids)))
        conn.execute(delete(cases).where(cases.c.id.in_(ids)))
    return len(ids)
