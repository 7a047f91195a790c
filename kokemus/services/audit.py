"""The audit log: who changed what, written in the same transaction as the change itself,
so a change without its record (or a record of a change that rolled back) cannot exist.

Actors are named by how they came in: `user:NAME` (web UI), `cli:NAME` (the local command
line, NAME from the operating system), `key:PREFIX` (an API key)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select

from kokemus.storage.tables import audit_log


def record(conn: Connection, actor: str, action: str, *, workspace: str | None = None,
           target: str | None = None, detail: dict[str, Any] | None = None) -> None:
    conn.execute(insert(audit_log).values(
        at=datetime.now(UTC), actor=actor[:200], workspace=workspace, action=action,
        target=None if target is None else target[:300], detail=detail))


def entries(db: Engine, *, workspace: str | None = None, instance: bool = False,
            limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The newest entries first, and how many there are in all. `workspace` selects one
    workspace's entries; `instance` those of no workspace (users, sign-ins); neither: all."""
    where = []
    if workspace is not None:
        where.append(audit_log.c.workspace == workspace)
    elif instance:
        where.append(audit_log.c.workspace.is_(None))
    with db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log).where(*where)).scalar()
        rows = conn.execute(
            select(audit_log).where(*where).order_by(audit_log.c.id.desc())
            .limit(limit).offset(offset)).mappings().all()
    return [dict(r) for r in rows], int(total or 0)
