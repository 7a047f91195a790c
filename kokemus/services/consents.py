"""Consent: record what a customer agreed to (or withdrew), read it back, and ask it.

The rule is in `domain.privacy`: the newest statement for a purpose is in force, and a
purpose without one falls back to its default (surveys allowed, marketing and device
actions not). `may_contact` is the one question every engine that contacts a customer asks.

Surveys had an opt-out list before consents existed, and it stays the suppression list
that dispatch and the survey links use. The two are kept as one truth, in one transaction:
a withdrawn `surveys` consent puts the customer on the opt-out list (and skips their
planned invitations), a granted one takes them off it, and an opt-out through a survey
link records a withdrawn `surveys` consent (`services.feedback.opt_out`). An opt-out
without any `surveys` statement (made before consents existed) still stops surveys.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from kokemus.domain.privacy import DEFAULT, PURPOSES, ConsentStatement, Purpose
from kokemus.services import audit
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import consents, invitations, opt_outs

_CHUNK = 5_000  # customers per query (SQLite binds at most 32,766 parameters)


def record(db: Engine, workspace: ActiveWorkspace, customer: str, statement: ConsentStatement,
           *, source: str, actor: str, now: datetime | None = None) -> dict[str, Any]:
    """Store one statement (and, for surveys, the opt-out list to match), audited; returns
    the stored row. `source` is how it reached us (api, cli, link, import)."""
    now = now or datetime.now(UTC)
    with db.begin() as conn:
        return record_in(conn, workspace.id, customer, statement, source=source, now=now,
                         actor=actor, slug=workspace.slug)


def record_in(conn: Connection, workspace_id: int, customer: str,
              statement: ConsentStatement, *, source: str, now: datetime, actor: str,
              slug: str) -> dict[str, Any]:
    """`record` inside the caller's transaction."""
    row = {"workspace_id": workspace_id, "customer": customer,
           "purpose": statement.purpose, "granted": statement.granted,
           "at": statement.at or now, "channel": statement.channel,
           "text_version": statement.text_version, "source": source[:64]}
    conn.execute(insert(consents).values(**row))
    if statement.purpose == "surveys" and _newest(conn, workspace_id, customer,
                                                  "surveys") == statement.granted:
        if statement.granted:
            conn.execute(delete(opt_outs).where(opt_outs.c.workspace_id == workspace_id,
                                                opt_outs.c.customer == customer))
        else:
            suppress(conn, workspace_id, customer, source=source, now=now)
    audit.record(conn, actor, "customer.consent", workspace=slug, target=customer,
                 detail={"purpose": statement.purpose, "granted": statement.granted})
    row.pop("workspace_id")
    return row


def suppress(conn: Connection, workspace_id: int, customer: str, *, source: str,
             now: datetime) -> None:
    """Put the customer on the opt-out list (if not there) and skip their planned
    invitations: no survey reaches them from now on."""
    there = conn.execute(select(opt_outs.c.customer).where(
        opt_outs.c.workspace_id == workspace_id, opt_outs.c.customer == customer)).first()
    if there is None:
        conn.execute(insert(opt_outs).values(workspace_id=workspace_id, customer=customer,
                                             source=source[:32], created_at=now))
    conn.execute(update(invitations).where(
        invitations.c.workspace_id == workspace_id, invitations.c.customer == customer,
        invitations.c.status == "planned").values(status="skipped", reason="opted out"))


def _newest(conn: Connection, workspace_id: int, customer: str, purpose: Purpose) -> bool | None:
    return conn.execute(select(consents.c.granted).where(
        consents.c.workspace_id == workspace_id, consents.c.customer == customer,
        consents.c.purpose == purpose).order_by(consents.c.at.desc(), consents.c.id.desc())
        .limit(1)).scalar()


def history(db: Engine, workspace_id: int, customer: str) -> list[dict[str, Any]]:
    """Every statement of the customer, oldest first."""
    with db.connect() as conn:
        rows = conn.execute(select(
            consents.c.purpose, consents.c.granted, consents.c.at, consents.c.channel,
            consents.c.text_version, consents.c.source).where(
            consents.c.workspace_id == workspace_id, consents.c.customer == customer)
            .order_by(consents.c.at, consents.c.id)).mappings().all()
    return [dict(r) for r in rows]


def current(db: Engine, workspace_id: int, customer: str) -> dict[str, dict[str, Any]]:
    """Per purpose: whether it is allowed now, and why (the statement in force, or the
    default; for surveys an opt-out without a statement)."""
    return _in_force(db, workspace_id, customer, history(db, workspace_id, customer))


def summary(db: Engine, workspace_id: int, customer: str) -> dict[str, Any]:
    """What is in force per purpose and every statement: the history read once."""
    statements = history(db, workspace_id, customer)
    return {"customer": customer,
            "current": _in_force(db, workspace_id, customer, statements),
            "history": statements}


def _in_force(db: Engine, workspace_id: int, customer: str,
              statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    newest = {s["purpose"]: s for s in statements}  # oldest first: the newest stays
    result: dict[str, dict[str, Any]] = {
        purpose: ({"allowed": newest[purpose]["granted"], "by": "statement",
                   **newest[purpose]} if purpose in newest
                  else {"allowed": DEFAULT[purpose], "by": "default"})
        for purpose in PURPOSES}
    if "surveys" not in newest and _opted_out(db, workspace_id, [customer]):
        result["surveys"] = {"allowed": False, "by": "opt-out"}
    return result


def may_contact(db: Engine, workspace_id: int, customer: str, purpose: Purpose) -> bool:
    """Whether an engine may contact the customer for `purpose` now."""
    return customer in allowed(db, workspace_id, [customer], purpose)


def allowed(db: Engine, workspace_id: int, customers: Iterable[str], purpose: Purpose, *,
            opted_out: Collection[str] | None = None) -> set[str]:
    """Those of `customers` that may be contacted for `purpose` (a few queries for many).
    `opted_out`: the opt-out list of these customers, when the caller has read it already."""
    wanted = sorted(set(customers))
    newest = _newest_many(db, workspace_id, wanted, purpose)
    ok = {c for c in wanted if newest.get(c, DEFAULT[purpose])}
    if purpose == "surveys":
        unstated = [c for c in ok if c not in newest]
        ok -= (set(unstated) & set(opted_out) if opted_out is not None
               else _opted_out(db, workspace_id, unstated))
    return ok


def _newest_many(db: Engine, workspace_id: int, wanted: list[str],
                 purpose: Purpose) -> dict[str, bool]:
    """The statement in force per customer that has one: the row with the latest (at, id)."""
    found: dict[str, bool] = {}
    with db.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i:i + _CHUNK]
            rows = conn.execute(select(consents.c.customer, consents.c.granted).where(
                and_(consents.c.workspace_id == workspace_id, consents.c.purpose == purpose,
                     consents.c.customer.in_(chunk))).order_by(consents.c.at, consents.c.id))
            for customer, granted in rows:  # oldest first: the newest is written last
                found[customer] = bool(granted)
    return found


def _opted_out(db: Engine, workspace_id: int, wanted: list[str]) -> set[str]:
    found: set[str] = set()
    with db.connect() as conn:
        for i in range(0, len(wanted), _CHUNK):
            found.update(conn.execute(select(opt_outs.c.customer).where(
                opt_outs.c.workspace_id == workspace_id,
                opt_outs.c.customer.in_(wanted[i:i + _CHUNK]))).scalars())
    return found
