"""The stores themselves: migrations match the tables, the sequence survives a restart,
a locked event store gives a clear error."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
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



@pytest.mark.parametrize("requests", [1, 12])  # 4 rows bound as values; 15 in Arrow
def test_waiting_single_events_are_stored_once_for_their_first_sender(
        kk: Kokemus, requests: int) -> None:
    """Requests waiting for the writer are stored in one group, bound as values when they
    are few and as one Arrow table from five rows: either way a key sent twice is stored
    once, for the request that came first, and a key stored before for none."""
    at = datetime(2026, 3, 1, tzinfo=UTC)

    def row(ident: str) -> tuple[object, ...]:
        return (1, ident, "t", "c", None, "web", None, at, None)

    assert kk.events.append([row("old")]) == {"old"}
    held = threading.Event()
    kk.events.submit_job(lambda _con, jobs: [held.wait(10) for _ in jobs], None)
    # request i sends its own key and the previous request's; the last one also "old"
    futures = [kk.events.submit([row(f"e{i}"), row(f"e{i - 1}")]) for i in range(requests)]
    futures.append(kk.events.submit([row("old"), row(f"e{requests - 1}"), row("new")]))
    held.set()
    stored = [f.result(10) for f in futures]
    assert stored[0] == {"e0", "e-1"}
    assert all(s == {f"e{i}"} for i, s in enumerate(stored[1:-1], start=1))
    assert stored[-1] == {"new"}
    with kk.events.reading() as cur:
        rows = cur.execute("SELECT id, count(*), min(seq) FROM events GROUP BY id").fetchall()
    assert {ident: n for ident, n, _ in rows} == {
        "old": 1, "new": 1, "e-1": 1, **{f"e{i}": 1 for i in range(requests)}}
    assert len({seq for _, _, seq in rows}) == len(rows)


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
