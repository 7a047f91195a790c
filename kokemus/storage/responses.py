"""Survey responses in the event store's database (DuckDB): saved whole, updated in place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from kokemus.storage.events import EventStore

COLUMNS = (
    "workspace_id", "id", "survey", "invitation", "customer", "account", "role", "segments",
    "touchpoint", "channel", "source", "language", "event_id", "answers", "nps", "ces", "csat",
    "comment", "complete", "started_at", "updated_at", "revision",
)

SCHEMA = pa.schema([
    ("workspace_id", pa.int32()), ("id", pa.string()), ("survey", pa.string()),
    ("invitation", pa.string()), ("customer", pa.string()), ("account", pa.string()),
    ("role", pa.string()), ("segments", pa.list_(pa.string())), ("touchpoint", pa.string()),
    ("channel", pa.string()), ("source", pa.string()), ("language", pa.string()),
    ("event_id", pa.string()), ("answers", pa.string()), ("nps", pa.int8()),
    ("ces", pa.int8()), ("csat", pa.int8()), ("comment", pa.string()),
    ("complete", pa.bool_()), ("started_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")), ("revision", pa.int32()),
])

_SELECT = ", ".join(COLUMNS)
_INSERT = (f"INSERT OR REPLACE INTO responses ({_SELECT}) VALUES "
           f"({', '.join('?' for _ in COLUMNS)})")


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(COLUMNS, values, strict=True))
    row["answers"] = orjson.loads(row["answers"]) if row["answers"] else {}
    return row


def get(store: EventStore, workspace_id: int, response_id: str) -> dict[str, Any] | None:
    with store.reading() as cur:
        found = cur.execute(f"SELECT {_SELECT} FROM responses WHERE workspace_id = ? AND id = ?",
                            [workspace_id, response_id]).fetchone()
    return _row(found) if found else None


def update(store: EventStore, workspace_id: int, response_id: str,
           change: Callable[[dict[str, Any] | None], dict[str, Any]]) -> dict[str, Any]:
    """Read the response (None if new), let `change` make the new row, write it: all under
    the writer's lock, so two submissions of one response never interleave or duplicate."""
    with store.writing() as con:
        found = con.execute(f"SELECT {_SELECT} FROM responses WHERE workspace_id = ? AND id = ?",
                            [workspace_id, response_id]).fetchone()
        row = change(_row(found) if found else None)
        values = [orjson.dumps(row["answers"]).decode() if c == "answers" else row.get(c)
                  for c in COLUMNS]
        con.execute(_INSERT, values)
    return row


def insert_many(store: EventStore, table: pa.Table) -> int:
    """Bulk insert (demo, benchmarks, imports) of rows in SCHEMA; existing ids are replaced."""
    batch = table.select(list(COLUMNS)).cast(SCHEMA)  # noqa: F841 - scanned by DuckDB below
    with store.writing() as con:
        con.execute(f"INSERT OR REPLACE INTO responses ({_SELECT}) SELECT {_SELECT} FROM batch")
    return int(table.num_rows)


def count(store: EventStore, workspace_id: int) -> int:
    with store.reading() as cur:
        found = cur.execute("SELECT count(*) FROM responses WHERE workspace_id = ?",
                            [workspace_id]).fetchone()
    return int(found[0]) if found else 0


def last_answered(store: EventStore, workspace_id: int) -> datetime | None:
    with store.reading() as cur:
        found = cur.execute("SELECT max(updated_at) FROM responses WHERE workspace_id = ?",
                            [workspace_id]).fetchone()
    return found[0] if found else None
