"""Reading the invitations outbox: counts by status and the latest invitations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Select, func, select

from kokemus.storage.tables import invitations

STATUSES = ("planned", "sent", "answered", "skipped", "failed")
SHOWN = ("id", "survey", "customer", "channel", "status", "reason", "attempts", "event_type",
         "event_id", "occurred_at", "due_at", "sent_at", "expires_at", "opened_at",
         "answered_at")


def counts(db: Engine, workspace_id: int) -> dict[str, int]:
    """Invitations per status, every status named (0 when none)."""
    with db.connect() as conn:
        found = {str(status): int(n) for status, n in conn.execute(
            select(invitations.c.status, func.count()).where(
                invitations.c.workspace_id == workspace_id).group_by(invitations.c.status))}
    return {status: found.pop(status, 0) for status in STATUSES} | found


def latest(db: Engine, workspace_id: int, *, status: str | None = None,
           survey: str | None = None, limit: int = 50,
           offset: int = 0) -> list[dict[str, Any]]:
    """The most recently due invitations first (`limit` of them, after `offset`)."""
    query = _chosen(select(*(invitations.c[name] for name in SHOWN)), workspace_id,
                    status, survey)
    with db.connect() as conn:
        rows = conn.execute(query.order_by(invitations.c.due_at.desc(), invitations.c.id)
                            .limit(limit).offset(offset)).mappings().all()
    return [dict(r) for r in rows]


def count(db: Engine, workspace_id: int, *, status: str | None = None,
          survey: str | None = None) -> int:
    """How many invitations `latest` pages through."""
    query = _chosen(select(func.count()).select_from(invitations), workspace_id, status, survey)
    with db.connect() as conn:
        return int(conn.execute(query).scalar_one())


def _chosen(query: Select[Any], workspace_id: int, status: str | None,
            survey: str | None) -> Select[Any]:
    query = query.where(invitations.c.workspace_id == workspace_id)
    if status:
        query = query.where(invitations.c.status == status)
    if survey:
        query = query.where(invitations.c.survey == survey)
    return query
