"""A customer's rights over their data: a copy of everything (export) and erasure.

**Export** gathers one customer (or one B2B account with its people) from both stores into
one JSON document: the profile, consents (history and what is in force), the opt-out,
invitations, cases with their notes, events and survey responses. Every export is written to
the audit log.

**Erasure** removes the person, and the decision of what that means is this:

- *Removed from the app store*: the customer row (name, email, language, segments,
  attributes), their invitations (which carry the survey link's identity and the events
  that triggered them), their cases with their notes and history (services/cases.py) and
  their consent statements. Consent records exist to show that
  contacting someone was lawful; once the person is gone and never contacted again, there
  is nothing left to show, and keeping their history would keep them.
- *Kept in the app store*: the customer id, twice, and nothing else about them. The audit
  log keeps the fact of the erasure (who, when, what was removed, counted): an erasure has
  to be demonstrable (GDPR art. 5(2), 17 and 19), and it must name whom it erased or it
  proves nothing. The log's earlier entries about the customer (consents, exports) keep
  what was done, by whom and when, but lose the id and their details. The opt-out list
  keeps the id as a suppression entry: if the same id comes back (a later import from a
  CRM that was not cleaned) no survey reaches the person, which is what they asked for.
  Neither says anything about the person but the id, and neither holds the pseudonym
  below, so the two cannot be joined to what stays.
- *Event store, by default (`mode="anonymize"`)*: the customer's events and answers stay
  as facts about the business, without the person: the customer id is replaced by one
  random pseudonym (secrets.token_hex: not derived from the id, and written nowhere else,
  so no key exists to undo it), the event ids by random ids (an order number links back to
  the shop's own records), the event properties are dropped, and of the responses the
  open-text answers and comments, the invitation and the response id go. What remains
  (touchpoints, channels, times, scores, choices, the account and segments) keeps journey
  counts, conversion, times and NPS/CES/CSAT as they were. The pseudonym is one per erased
  person, so the journey stays one case.
- *Against it*: anonymous means that nobody can single the person out by means reasonably
  likely to be used (recital 26). A journey with exact timestamps can be matched to the
  company's other records (the order system knows when customer X ordered); in a small
  workspace, or for a rare journey, what stays may still single someone out. Use
  `mode="delete"` then: the events and responses go, and the counts drop by them. The
  default keeps them because the aggregates are what the business needs and the person is
  no longer in them; the other systems that hold the same customer have to be erased too.
- *No trace in the files*: SQLite zeroes deleted rows (secure_delete, set on every
  connection) and the erasure VACUUMs it and truncates its WAL; the DuckDB file keeps
  deleted and overwritten values in its blocks even after a checkpoint, so the case-ordered
  copies are rebuilt and the whole file is rewritten (`EventStore.rewrite`). PostgreSQL
  keeps dead row versions until VACUUM reuses the space: see docs/privacy.md.

The erasure is not one transaction over two stores: the event store is changed first,
then the app store in one transaction with its audit entry, so a failure half-way leaves
the customer row in place and running the erasure again finishes it.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import delete, select, text, update

from kokemus.analytics import ordering
from kokemus.bootstrap import Kokemus
from kokemus.domain.errors import NotFound
from kokemus.domain.surveys import without_free_text
from kokemus.services import audit, cases, consents
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from kokemus.storage import responses as response_store
from kokemus.storage.events import deleted
from kokemus.storage.tables import (
    accounts,
    audit_log,
    customers,
    invitations,
    opt_outs,
    response_journal,
)
from kokemus.storage.tables import consents as consent_table

Mode = Literal["anonymize", "delete"]

_EVENT_COLUMNS = ("id", "seq", "type", "account", "channel", "touchpoint", "occurred_at",
                  "received_at", "properties")


def _plain(value: Any) -> Any:
    """JSON-ready: times as ISO 8601 text, containers walked."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------ export


def export_customer(kk: Kokemus, workspace: ActiveWorkspace, customer: str, *,
                    actor: str) -> dict[str, Any]:
    """Everything kokemus holds about one customer, as one JSON-ready document (audited).
    NotFound when neither store knows the id."""
    found = _customer_part(kk, workspace, customer)
    if found is None:
        raise NotFound(f"no customer '{customer}' in workspace '{workspace.slug}'")
    document = {"kind": "customer", "workspace": workspace.slug,
                "exported_at": datetime.now(UTC).isoformat(), **found}
    _audit(kk, actor, "customer.export", workspace, customer,
           {"events": len(found["events"]), "responses": len(found["responses"])})
    return document


def export_account(kk: Kokemus, workspace: ActiveWorkspace, account: str, *,
                   actor: str) -> dict[str, Any]:
    """A B2B account, each of its people as `export_customer` gives them, and the account's
    events that name none of them (audited)."""
    with kk.db.connect() as conn:
        row = conn.execute(select(accounts).where(accounts.c.workspace_id == workspace.id,
                                                  accounts.c.id == account)).mappings().first()
    members = [m["id"] for m in people.account_stakeholders(kk.db, workspace.id, account)]
    with kk.events.reading() as cur:
        others = _events(cur, workspace.id, "account = ? AND customer NOT IN (SELECT unnest(?))",
                         [account, members])
    if row is None and not members and not others:
        raise NotFound(f"no account '{account}' in workspace '{workspace.slug}'")
    people_part = [{"id": m, **(_customer_part(kk, workspace, m) or {})} for m in members]
    document = {"kind": "account", "workspace": workspace.slug,
                "exported_at": datetime.now(UTC).isoformat(),
                "account": _plain(_without_workspace(dict(row))) if row else None,
                "people": people_part, "events": others}
    _audit(kk, actor, "account.export", workspace, account, {"people": len(members)})
    return document


def _customer_part(kk: Kokemus, workspace: ActiveWorkspace,
                   customer: str) -> dict[str, Any] | None:
    profile = people.get_customer(kk.db, workspace.id, customer)
    with kk.db.connect() as conn:
        invited = [dict(r) for r in conn.execute(select(invitations).where(
            invitations.c.workspace_id == workspace.id, invitations.c.customer == customer)
            .order_by(invitations.c.created_at, invitations.c.id)).mappings()]
        opted = conn.execute(select(opt_outs.c.source, opt_outs.c.created_at).where(
            opt_outs.c.workspace_id == workspace.id, opt_outs.c.customer == customer)
        ).mappings().first()
        held = cases.of_customer(conn, workspace.id, customer)
    stated = consents.summary(kk.db, workspace.id, customer)
    with kk.events.reading() as cur:
        events = _events(cur, workspace.id, "customer = ?", [customer])
        answers = [_without_workspace(r) for r in response_store.rows_where(
            cur, "workspace_id = ? AND customer = ?", [workspace.id, customer])]
    if profile is None and not (invited or opted or held or stated["history"] or events
                                or answers):
        return None
    part: dict[str, Any] = _plain({
        "customer": _without_workspace(profile) if profile else None,
        "consents": {"current": stated["current"], "history": stated["history"]},
        "opt_out": dict(opted) if opted else None,
        "invitations": [_without_workspace(i) for i in invited],
        "cases": held,
        "events": events,
        "responses": answers,
    })
    return part


def _events(cur: Any, workspace_id: int, where: str, params: list[Any]) -> list[dict[str, Any]]:
    rel = cur.execute(f"SELECT {', '.join(_EVENT_COLUMNS)}, customer FROM events "
                      f"WHERE workspace_id = ? AND {where} ORDER BY occurred_at, seq",
                      [workspace_id, *params])
    names = [d[0] for d in rel.description]
    found = []
    for values in rel.fetchall():
        row = dict(zip(names, values, strict=True))
        row["properties"] = orjson.loads(row["properties"]) if row["properties"] else None
        found.append(_plain(row))
    return found


def _without_workspace(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "workspace_id"}


def _audit(kk: Kokemus, actor: str, action: str, workspace: ActiveWorkspace, target: str,
           detail: dict[str, Any]) -> None:
    with kk.db.begin() as conn:
        audit.record(conn, actor, action, workspace=workspace.slug, target=target,
                     detail=detail)


# ------------------------------------------------------------------------------ erasure


@dataclass(frozen=True)
class Erased:
    """What an erasure did: rows per store and what the scrubbing of the files cost."""

    customer: str
    mode: Mode
    profile: bool  # the customer row was there
    invitations: int
    consents: int
    events: int  # anonymized or deleted, by `mode`
    responses: int
    copies_seconds: float  # rebuilding the case-ordered copies
    rewrite_seconds: float  # rewriting the DuckDB file
    vacuum_seconds: float  # VACUUM of the SQLite app store
    seconds: float
    cases: int = 0  # deleted with their history

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def erase_customer(kk: Kokemus, workspace: ActiveWorkspace, customer: str, *, actor: str,
                   mode: Mode = "anonymize") -> Erased:
    """Erase one customer from both stores (see the module's text for what stays, and why);
    NotFound when neither store knows the id, so a second erasure says so."""
    started = time.perf_counter()
    events, answers = _erase_events(kk, workspace, customer, mode)
    with kk.db.begin() as conn:
        profile = conn.execute(delete(customers).where(
            customers.c.workspace_id == workspace.id, customers.c.id == customer)).rowcount
        invited = conn.execute(delete(invitations).where(
            invitations.c.workspace_id == workspace.id,
            invitations.c.customer == customer)).rowcount
        # drained by the event store's write above; an answer saved since goes too
        conn.execute(delete(response_journal).where(
            response_journal.c.workspace_id == workspace.id,
            response_journal.c.customer == customer))
        stated = conn.execute(delete(consent_table).where(
            consent_table.c.workspace_id == workspace.id,
            consent_table.c.customer == customer)).rowcount
        worked = cases.erase_customer(conn, workspace.id, customer)
        if not (profile or invited or stated or worked or events or answers):
            raise NotFound(f"no customer '{customer}' in workspace '{workspace.slug}' "
                           "(nothing to erase)")
        # the log's earlier entries about her (consents, exports) keep what was done and
        # by whom, not whose: only the erasure itself names her (see the module's text)
        conn.execute(update(audit_log).where(
            audit_log.c.workspace == workspace.slug, audit_log.c.target == customer,
            audit_log.c.action.like("customer.%")).values(target=None, detail=None))
        consents.suppress(conn, workspace.id, customer, source="erasure",
                          now=datetime.now(UTC))
        audit.record(conn, actor, "customer.erase", workspace=workspace.slug, target=customer,
                     detail={"mode": mode, "profile": bool(profile), "invitations": invited,
                             "consents": stated, "cases": worked, "events": events,
                             "responses": answers})
    copies, rewrite = _scrub_event_store(kk)
    vacuum = scrub_app_store(kk)
    return Erased(customer, mode, bool(profile), invited, stated, events, answers, copies,
                  rewrite, vacuum, time.perf_counter() - started, cases=worked)


def _erase_events(kk: Kokemus, workspace: ActiveWorkspace, customer: str,
                  mode: Mode) -> tuple[int, int]:
    """Anonymize or delete the customer's events and responses in one DuckDB transaction;
    returns (events, responses)."""
    pseudonym = f"erased-{secrets.token_hex(8)}"
    where = "workspace_id = ? AND customer = ?"
    key = [workspace.id, customer]
    with kk.events.writing() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            if mode == "delete":
                events = deleted(con, f"DELETE FROM events WHERE {where}", key)
                answers = deleted(con, f"DELETE FROM responses WHERE {where}", key)
            else:
                events, answers = _anonymize(con, workspace, where, key, pseudonym)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return events, answers


def _anonymize(con: Any, workspace: ActiveWorkspace, where: str, key: list[Any],
               pseudonym: str) -> tuple[int, int]:
    con.execute("CREATE OR REPLACE TEMP TABLE erasing AS SELECT id AS old, "
                "'erased:' || gen_random_uuid() AS new "
                f"FROM events WHERE {where}", key)
    try:
        con.execute("UPDATE events SET id = erasing.new, customer = ?, properties = NULL "
                    "FROM erasing WHERE events.workspace_id = ? AND events.id = erasing.old",
                    [pseudonym, workspace.id])
        new_ids = dict(con.execute("SELECT old, new FROM erasing").fetchall())
    finally:
        con.execute("DROP TABLE IF EXISTS erasing")

    def anonymous(row: dict[str, Any]) -> dict[str, Any]:
        survey = workspace.document.survey(row["survey"])
        return {**row, "id": f"erased:{secrets.token_hex(12)}", "invitation": None,
                "customer": pseudonym, "event_id": new_ids.get(row["event_id"]),
                "comment": None, "answers": without_free_text(row["answers"], survey)}

    return len(new_ids), response_store.rewrite(con, where, key, anonymous)


def _scrub_event_store(kk: Kokemus) -> tuple[float, float]:
    """Rebuild the case-ordered copies (they held the old rows), then rewrite the file so
    that no freed block keeps them; returns the seconds of each."""
    started = time.perf_counter()
    with kk.events.reading() as cursor:
        ordering.rebuild_if_made(cursor)
    copies = time.perf_counter() - started
    return copies, kk.events.rewrite().seconds


def scrub_app_store(kk: Kokemus) -> float:
    """On SQLite, rebuild the file (VACUUM) and empty its write-ahead log, so no page keeps
    a deleted row; returns the seconds. PostgreSQL: nothing here (see docs/privacy.md)."""
    if kk.db.dialect.name != "sqlite":
        return 0.0
    started = time.perf_counter()
    with kk.db.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text("VACUUM"))
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return time.perf_counter() - started
