"""The stores themselves: migrations match the tables, the sequence survives a restart,
a locked event store gives a clear error."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kokemus.bootstrap import Kokemus
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.events import SCHEMA, EventStore
from kokemus.storage.tables import metadata
from tests.conftest import PG_URL


def test_app_store_is_the_configured_database(kk: Kokemus) -> None:
    assert kk.db.dialect.name == ("postgresql" if PG_URL else "sqlite")


def test_migrations_create_exactly_the_declared_tables(kk: Kokemus) -> None:
    with kk.db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def events(ids: list[str]) -> list[dict[str, str]]:
    return [{"id": i, "type": "order_placed", "customer": "c", "channel": "web",
             "occurred_at": "2026-01-01T00:00:00Z"} for i in ids]


def test_sequence_is_monotonic_across_restarts(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ingest_events(events(["a", "b"]), workspace, kk.events)
    path = kk.events.path
    kk.events.close()
    reopened = EventStore(path)
    try:
        ingest_events(events(["c", "a"]), workspace, reopened)
        with reopened.reading() as cur:
            rows = cur.execute("SELECT id, seq FROM events ORDER BY seq").fetchall()
    finally:
        reopened.close()
        kk.opened_events = None  # the fixture opens it again when it is next used
    assert [r[0] for r in rows] == ["a", "b", "c"]
    assert rows[2][1] > rows[1][1] > rows[0][1]


def test_second_writer_process_gets_a_clear_error(kk: Kokemus) -> None:
    import subprocess
    import sys

    code = ("from kokemus.storage.events import EventStore\n"
            f"EventStore({str(kk.events.path)!r})\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "EventStoreLocked" in result.stderr
    assert "is open in another process" in result.stderr


def test_append_of_schema_table_is_idempotent(kk: Kokemus) -> None:
    table = pa.table({
        "workspace_id": pa.array([1, 1], pa.int32()), "id": ["x", "y"],
        "type": ["t", "t"], "customer": ["c", "c"], "account": pa.nulls(2, pa.string()),
        "channel": ["web", "web"], "touchpoint": pa.nulls(2, pa.string()),
        "occurred_at": pa.array([0, 1], pa.timestamp("us", tz="UTC")),
        "properties": pa.nulls(2, pa.string()),
    }, schema=SCHEMA)
    assert kk.events.append(table) == {"x", "y"}
    assert kk.events.append(table) == set()
    assert kk.events.count(1) == 2



def test_the_event_store_memory_limit_is_a_setting(tmp_path: Path) -> None:
    """KOKEMUS_EVENTS_MEMORY_LIMIT bounds DuckDB (it spills beyond it); a bad value is
    refused with the setting named, before anything opens."""
    from pydantic import ValidationError

    from kokemus import bootstrap
    from kokemus.config import Settings

    settings = Settings(data_dir=tmp_path, secret_key="s", events_memory_limit="1GB")
    with bootstrap.build(settings) as kk, kk.events.reading() as cur:
        limit = cur.execute("SELECT current_setting('memory_limit')").fetchone()
    assert limit is not None and limit[0] in ("953.6 MiB", "1.0 GiB", "1000.0 MB")
    with pytest.raises(ValidationError, match="events_memory_limit"):
        Settings(data_dir=tmp_path, secret_key="s", events_memory_limit="lots")
