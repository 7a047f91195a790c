"""The event store: DuckDB, one table, idempotent appends, a monotonic sequence number.

Events arrive unordered and may be retried. (workspace_id, id) is the idempotency key,
enforced by the engine, so a retried batch stores nothing twice; every stored event gets
the next sequence number, and every journey orders by (customer, occurred_at, seq).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from kokemus.domain.errors import KokemusError

SCHEMA = pa.schema(
    [
        ("workspace_id", pa.int32()),
        ("id", pa.string()),
        ("type", pa.string()),
        ("customer", pa.string()),
        ("account", pa.string()),
        ("channel", pa.string()),
        ("touchpoint", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("properties", pa.string()),  # JSON text
    ]
)

DDL = """
CREATE TABLE IF NOT EXISTS events (
    workspace_id INTEGER NOT NULL,
    id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    type VARCHAR NOT NULL,
    customer VARCHAR NOT NULL,
    account VARCHAR,
    channel VARCHAR NOT NULL,
    touchpoint VARCHAR,
    occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    properties JSON,
    PRIMARY KEY (workspace_id, id)
)
"""

COLUMNS = ", ".join(field.name for field in SCHEMA)


class EventStoreLocked(KokemusError):
    pass


class EventStore:
    """One DuckDB database; writes are serialised here, reads use their own cursors."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        try:
            self._con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise EventStoreLocked(
                    f"the event store {path} is open in another process "
                    "(is `kokemus serve` running? stop it, or send events through its API)"
                ) from None
            raise
        self._con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self._con.execute(DDL)
        self._write = threading.Lock()
        row = self._con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        self._next_seq = int(row[0]) + 1 if row else 1

    def close(self) -> None:
        self._con.close()

    def append(self, batch: pa.Table) -> set[str]:
        """Store the events of `batch` (SCHEMA) not stored before; return the ids stored now."""
        if batch.num_rows == 0:
            return set()
        with self._write:
            first = self._next_seq
            self._next_seq += batch.num_rows
            rows = self._con.execute(
                f"""
                INSERT INTO events ({COLUMNS}, seq, received_at)
                SELECT {COLUMNS}, ? + row_number() OVER () - 1, now()
                FROM batch
                ON CONFLICT DO NOTHING
                RETURNING id
                """,
                [first],
            ).fetchall()
        return {row[0] for row in rows}

    @contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own, so reads in other threads do not wait for the writer."""
        cursor = self._con.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def count(self, workspace_id: int) -> int:
        with self.reading() as cur:
            row = cur.execute(
                "SELECT count(*) FROM events WHERE workspace_id = ?", [workspace_id]
            ).fetchone()
        return int(row[0]) if row else 0

    def latest(self, workspace_id: int, limit: int = 10) -> list[dict[str, Any]]:
        with self.reading() as cur:
            rel = cur.execute(
                """
                SELECT seq, id, type, customer, account, channel, touchpoint, occurred_at
                FROM events WHERE workspace_id = ?
                ORDER BY seq DESC LIMIT ?
                """,
                [workspace_id, limit],
            )
            names = [d[0] for d in rel.description]
            return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]

    def delete_workspace(self, workspace_id: int) -> None:
        with self._write:
            self._con.execute("DELETE FROM events WHERE workspace_id = ?", [workspace_id])
