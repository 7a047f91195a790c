"""Customers and accounts in the app store: upserts that work on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kokemus.domain.events import Account, Customer
from kokemus.storage.tables import accounts, customers


def _upsert(db: Engine, table: Table, rows: list[dict[str, Any]], keys: list[str],
            update: list[str] | None = None) -> None:
    """Insert rows, or update `update` columns (default: all but the keys) of existing ones."""
    if not rows:
        return
    dialect_insert = pg_insert if db.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(table)
    columns = update or [c for c in rows[0] if c not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in columns})
    # executemany: one prepared statement for all rows, ten times faster than multi-VALUES.
    with db.begin() as conn:
        conn.execute(stmt, rows)


def upsert_customers(db: Engine, workspace_id: int, items: Sequence[Customer],
                     now: datetime) -> None:
    rows = [
        {
            "workspace_id": workspace_id, "id": c.id, "email": c.email, "name": c.name,
            "language": c.language, "segments": c.segments, "account_id": c.account,
            "role": c.role, "attributes": c.attributes, "updated_at": now,
        }
        for c in items
    ]
    _upsert(db, customers, rows, ["workspace_id", "id"])


def upsert_accounts(db: Engine, workspace_id: int, items: Sequence[Account],
                    now: datetime) -> None:
    rows = [
        {
            "workspace_id": workspace_id, "id": a.id, "name": a.name, "segments": a.segments,
            "attributes": a.attributes, "updated_at": now,
        }
        for a in items
    ]
    _upsert(db, accounts, rows, ["workspace_id", "id"])
    members = [
        {
            "workspace_id": workspace_id, "id": s.customer, "account_id": a.id, "role": s.role,
            "segments": [], "attributes": {}, "updated_at": now,
        }
        for a in items for s in a.stakeholders
    ]
    # Stakeholders may be new people: create them, or set the account and role of known ones.
    _upsert(db, customers, members, ["workspace_id", "id"],
            update=["account_id", "role", "updated_at"])


def count(db: Engine, table: Table, workspace_id: int) -> int:
    with db.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(table).where(table.c.workspace_id == workspace_id)
        ).scalar() or 0)


def get_customer(db: Engine, workspace_id: int, customer_id: str) -> dict[str, Any] | None:
    with db.connect() as conn:
        row = conn.execute(select(customers).where(
            customers.c.workspace_id == workspace_id, customers.c.id == customer_id)).first()
    return dict(row._mapping) if row else None


def names(db: Engine, workspace_id: int, customer_ids: Sequence[str]) -> dict[str, str]:
    """The names of those of `customer_ids` who have one (a page's rows, at most a few
    hundred: one query)."""
    wanted = sorted(set(customer_ids))
    if not wanted:
        return {}
    with db.connect() as conn:
        rows = conn.execute(select(customers.c.id, customers.c.name).where(
            customers.c.workspace_id == workspace_id, customers.c.id.in_(wanted),
            customers.c.name.is_not(None)))
        return {str(ident): str(name) for ident, name in rows if str(name).strip()}


def account_stakeholders(db: Engine, workspace_id: int, account_id: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            select(customers.c.id, customers.c.role).where(
                customers.c.workspace_id == workspace_id, customers.c.account_id == account_id
            ).order_by(customers.c.id)
        ).mappings().all()
    return [dict(r) for r in rows]


def customers_in_segment(db: Engine, workspace_id: int, segment: str) -> list[str]:
    """Ids of the workspace's customers in `segment` (their `segments` list holds it)."""
    if db.dialect.name == "postgresql":
        member = text("CAST(segments AS jsonb) ? :segment")
    else:
        member = text("EXISTS (SELECT 1 FROM json_each(customers.segments) WHERE value = :segment)")
    with db.connect() as conn:
        rows = conn.execute(
            select(customers.c.id).where(customers.c.workspace_id == workspace_id, member),
            {"segment": segment},
        ).scalars()
        return list(rows)


def account_names(db: Engine, workspace_id: int, limit: int = 1000) -> list[tuple[str, str]]:
    """The workspace's B2B accounts as (id, name), by name: at most `limit` of them."""
    with db.connect() as conn:
        rows = conn.execute(select(accounts.c.id, accounts.c.name).where(
            accounts.c.workspace_id == workspace_id).order_by(accounts.c.name, accounts.c.id)
            .limit(limit))
        return [(str(ident), str(name)) for ident, name in rows]
