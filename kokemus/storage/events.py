"""The event store: DuckDB, one table, idempotent appends, a monotonic sequence number.

Events arrive unordered and may be retried. (workspace_id, id) is the idempotency key,
enforced by the engine, so a retried batch stores nothing twice; every stored event gets
the next sequence number, and every journey orders by (customer, occurred_at, seq).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kokemus.domain.errors import KokemusError
from kokemus.storage.groups import GroupCommit

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

# Survey responses live beside the events: the scores are aggregates over millions of them,
# which the analytic engine does in milliseconds. One row per response, replaced as a
# respondent answers more (partial answers are kept); `revision` counts the updates. No
# primary key: the one writer replaces rows in groups (see EventStore.submit_job), and a
# key's conflict checks would make every write several times dearer. A plain index on the
# id (RESPONSES_INDEX) is what the writer's read and delete of a group's rows look up: at
# 1M responses, 2 ms each instead of a 9-10 ms scan of the whole table.
RESPONSES_DDL = """
CREATE TABLE IF NOT EXISTS responses (
    workspace_id INTEGER NOT NULL,
    id VARCHAR NOT NULL,
    survey VARCHAR NOT NULL,
    invitation VARCHAR,
    customer VARCHAR,
    account VARCHAR,
    role VARCHAR,
    segments VARCHAR[],
    touchpoint VARCHAR,
    channel VARCHAR,
    source VARCHAR NOT NULL,
    language VARCHAR,
    event_id VARCHAR,
    answers JSON NOT NULL,
    nps TINYINT,
    ces TINYINT,
    csat TINYINT,
    comment VARCHAR,
    complete BOOLEAN NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    revision INTEGER NOT NULL
)
"""
RESPONSES_INDEX = "CREATE INDEX IF NOT EXISTS responses_id ON responses (id)"

# A few events need no Arrow table: rows of values in SCHEMA's order (a single event's
# table took the event loop half a millisecond to build, half of its whole request).
Rows: TypeAlias = list[tuple[Any, ...]]
Batch: TypeAlias = "pa.Table | Rows"

COLUMNS = ", ".join(field.name for field in SCHEMA)
_INSERTED = [*SCHEMA.names, "seq"]
_ROW = "(" + ", ".join("?" for _ in _INSERTED) + ", now())"
# Up to this many rows an insert binds values instead of scanning Arrow. Binding costs
# DuckDB's parser and binder per value, Arrow a flat millisecond or so: at 1,500 single
# events/s (groups of up to 16, one per client connection) the writer took 0.15 ms of CPU
# per event with Arrow from 5 rows, 0.17-0.20 ms with values up to 32 (load average 8).
_FEW_ROWS = 4


class EventStoreLocked(KokemusError):
    pass


# A handler writes a group of jobs in one transaction and returns, per job, its result or
# the exception that job alone failed with.
Handler = Callable[[duckdb.DuckDBPyConnection, list[Any]], list[Any]]


class _Job:
    """A write other than an event batch, done by the writer with the others of its handler."""

    __slots__ = ("future", "handler", "payload")

    def __init__(self, handler: Handler, payload: Any) -> None:
        self.handler = handler
        self.payload = payload
        self.future: Future[Any] = Future()


class _Pending:
    """A batch waiting for the writer, and what became of it."""

    __slots__ = ("batch", "future", "stored")

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.future: Future[set[str]] = Future()
        self.stored: set[str] = set()


def _first_keys(tables: list[pa.Table]) -> tuple[list[list[tuple[int, str]]], list[bool]]:
    """Per table the keys it is first to send, and a mask keeping only those rows."""
    seen: set[tuple[int, str]] = set()
    keys: list[list[tuple[int, str]]] = []
    keep: list[bool] = []
    for table in tables:
        mine = []
        for key in zip(table["workspace_id"].to_pylist(), table["id"].to_pylist(), strict=True):
            new = key not in seen
            keep.append(new)
            if new:
                seen.add(key)
                mine.append(key)
        keys.append(mine)
    return keys, keep


class _Readers:
    """Counts the cursors in use, so that `EventStore.rewrite` can wait until they are
    closed and hold new ones back while it swaps the file."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextmanager
    def excluded(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._closed)
            self._closed = True
            self._cond.wait_for(lambda: self._active == 0)
        try:
            yield
        finally:
            with self._cond:
                self._closed = False
                self._cond.notify_all()


def _table(rows: Rows) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in SCHEMA]
    return pa.Table.from_arrays([pa.array(column, type=field.type)
                                 for column, field in zip(columns, SCHEMA, strict=True)],
                                schema=SCHEMA)


@dataclass(frozen=True)
class Rewritten:
    """What `EventStore.rewrite` did: the file's size before and after, and seconds."""

    bytes_before: int
    bytes_after: int
    seconds: float


class EventStore:
    """One DuckDB database; writes are serialised here, reads use their own cursors."""

    def __init__(self, path: Path | str, *, read_only: bool = False,
                 memory_limit: str | None = None) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self._read_only = read_only
        self._memory_limit = memory_limit
        self._threads: int | None = None
        self._readers = _Readers()
        # Called before a read or a write outside the writer thread: the response journal's
        # drain (storage/journal.py), so that every reader sees every acknowledged answer.
        self.settle: Callable[[], None] | None = None
        self._con = self._open()
        self._write = threading.Lock()
        self._writer: GroupCommit[_Pending | _Job] = GroupCommit(
            self._write_group, "kokemus-event-writer")
        row = self._con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        self._next_seq = int(row[0]) + 1 if row else 1

    def _open(self) -> duckdb.DuckDBPyConnection:
        try:
            con = duckdb.connect(str(self.path), read_only=self._read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise EventStoreLocked(
                    f"the event store {self.path} is open in another process "
                    "(is `kokemus serve` running? stop it, or send events through its API)"
                ) from None
            raise
        con.execute("SET TimeZone = 'UTC'")
        if self._memory_limit is not None:
            con.execute("SET memory_limit = ?", [self._memory_limit])
        if not self._read_only:
            con.execute(DDL)
            con.execute(RESPONSES_DDL)
            con.execute(RESPONSES_INDEX)
        if self._threads is not None:
            con.execute(f"SET threads = {self._threads}")
        return con

    def close(self) -> None:
        self._writer.close()
        self._con.close()

    def set_threads(self, threads: int) -> None:
        """Cap DuckDB's worker threads (for this whole database)."""
        self._threads = int(threads)
        self._con.execute(f"SET threads = {self._threads}")

    def rewrite(self) -> Rewritten:
        """Copy the whole database into a new file and put it in the old one's place.

        DuckDB does not overwrite what it deletes: a deleted or updated value stays in its
        old block, and a freed block keeps its bytes until it is reused (even after a
        CHECKPOINT, even after the table is rewritten). A new file holds only the live
        rows, so this is how an erasure leaves no trace in the file (services/privacy.py).
        Writes wait, new reads wait and reads in progress are waited for; the copy takes
        about a second per 30 MB (docs/privacy.md). An in-memory store has no file."""
        started = time.perf_counter()
        if not isinstance(self.path, Path):
            return Rewritten(0, 0, 0.0)
        fresh = self.path.with_name(self.path.name + ".rewrite")
        with self._write, self._readers.excluded():
            self._con.execute("CHECKPOINT")
            before = self.path.stat().st_size
            fresh.unlink(missing_ok=True)
            name = self._con.execute("SELECT current_database()").fetchall()[0][0]
            try:
                self._con.execute(f"ATTACH '{fresh}' AS kokemus_rewrite")
                self._con.execute(f'COPY FROM DATABASE "{name}" TO kokemus_rewrite')
                self._con.execute("DETACH kokemus_rewrite")
            except Exception:
                with suppress(duckdb.Error):
                    self._con.execute("DETACH kokemus_rewrite")
                fresh.unlink(missing_ok=True)
                raise
            self._con.close()
            os.replace(fresh, self.path)
            self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
            self._con = self._open()
            after = self.path.stat().st_size
        return Rewritten(before, after, time.perf_counter() - started)

    def append(self, batch: Batch) -> set[str]:
        """Store the events of `batch` (SCHEMA, or Rows) not stored before; return the ids
        stored now."""
        return self.submit(batch).result()

    def submit(self, batch: Batch) -> Future[set[str]]:
        """Hand `batch` to the writer; the future gives the ids stored now.

        One writer thread stores every batch waiting by the time it is free in one statement
        (group commit), so many small requests cost one DuckDB insert instead of one each,
        and a caller can prepare its next batch while this one is written. A key sent in two
        waiting batches is stored once, for the batch that came first.
        """
        pending = _Pending(batch)
        if len(batch) == 0:
            pending.future.set_result(set())
            return pending.future
        self._enqueue(pending)
        return pending.future

    def submit_job(self, handler: Handler, payload: Any) -> Future[Any]:
        """Hand a write to the writer thread. Every job of the same `handler` waiting by the
        time it is free goes to it together, in one transaction: small writes cost one
        DuckDB commit per group instead of one each, as event appends do."""
        job = _Job(handler, payload)
        self._enqueue(job)
        return job.future

    def _enqueue(self, item: _Pending | _Job) -> None:
        self._writer.put(item)

    def _write_group(self, group: list[_Pending | _Job]) -> None:
        batches = [item for item in group if isinstance(item, _Pending)]
        jobs = [item for item in group if isinstance(item, _Job)]
        with self._write:
            if batches:
                self._store_group(batches)
            for handler in dict.fromkeys(job.handler for job in jobs):
                self._run_jobs(handler, [job for job in jobs if job.handler is handler])

    def _run_jobs(self, handler: Handler, jobs: list[_Job]) -> None:
        try:
            self._con.execute("BEGIN TRANSACTION")
            results = handler(self._con, [job.payload for job in jobs])
            self._con.execute("COMMIT")
        except Exception as exc:
            with suppress(duckdb.Error):  # nothing to roll back if BEGIN itself failed
                self._con.execute("ROLLBACK")
            for job in jobs:
                job.future.set_exception(exc)
            return
        for job, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                job.future.set_exception(result)
            else:
                job.future.set_result(result)

    def _store_group(self, group: list[_Pending]) -> None:
        """Store waiting batches (the write lock held); a failing group is retried one by
        one, so one bad batch fails only its own caller."""
        try:
            self._store(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].future.set_exception(exc)
                return
            for pending in group:
                try:
                    self._store([pending])
                except Exception as one:
                    pending.future.set_exception(one)
                else:
                    pending.future.set_result(pending.stored)
        else:
            for pending in group:
                pending.future.set_result(pending.stored)

    def _store(self, group: list[_Pending]) -> None:
        if all(isinstance(p.batch, list) for p in group):
            self._store_rows(group)
            return
        tables = [_table(p.batch) if isinstance(p.batch, list) else
                  p.batch if p.batch.schema.equals(SCHEMA) else
                  p.batch.select(SCHEMA.names).cast(SCHEMA) for p in group]
        batch = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
        keys: list[list[tuple[int, str]]] | None = None
        if len(tables) > 1 and pc.count_distinct(batch["id"]).as_py() < batch.num_rows:
            keys, keep = _first_keys(tables)
            batch = batch.filter(pa.array(keep, pa.bool_()))
        first = self._next_seq
        seq = pa.array(np.arange(first, first + batch.num_rows, dtype=np.int64))
        batch = batch.append_column("seq", seq)
        self._next_seq += batch.num_rows
        try:
            # Most batches hold only new keys, and a plain insert costs DuckDB half what an
            # insert checking each key for a conflict does; a key stored before makes the
            # statement fail whole, and then the batch goes through the checking insert.
            rows = self._insert(batch, checked=False)
        except duckdb.ConstraintException:
            rows = self._insert(batch, checked=True)
        if keys is None and (rows is None or len(rows) == batch.num_rows):  # all new
            for pending, table in zip(group, tables, strict=True):
                pending.stored = set(table["id"].to_pylist())
            return
        if keys is None:
            keys = [list(zip(t["workspace_id"].to_pylist(), t["id"].to_pylist(), strict=True))
                    for t in tables]
        stored = None if rows is None else set(rows)
        for pending, mine in zip(group, keys, strict=True):
            pending.stored = {key[1] for key in mine if stored is None or key in stored}

    def _store_rows(self, group: list[_Pending]) -> None:
        """`_store` for events given as Rows: the same steps (a key sent twice in the group
        stored once, for the first; a plain insert first, the checking one if a key was
        stored before) in plain Python; a few rows bound as values, a backlog of them as one
        Arrow table (not one per request, concatenated)."""
        seen: set[tuple[int, str]] = set()
        rows: Rows = []
        keys: list[list[tuple[int, str]]] = []
        for pending in group:
            mine = []
            given: Rows = pending.batch
            for row in given:
                key = (row[0], row[1])
                if key not in seen:
                    seen.add(key)
                    mine.append(key)
                    rows.append(row)
            keys.append(mine)
        first = self._next_seq
        self._next_seq += len(rows)
        stored: set[tuple[int, str]] | None = None
        if len(rows) > _FEW_ROWS:  # a backlog of single events: one Arrow table for all
            batch = _table(rows).append_column(
                "seq", pa.array(np.arange(first, first + len(rows), dtype=np.int64)))
            try:
                self._insert(batch, checked=False)
            except duckdb.ConstraintException:
                stored = set(self._insert(batch, checked=True) or [])
        else:
            values = [value for i, row in enumerate(rows) for value in (*row, first + i)]
            statement = (f"INSERT INTO events ({', '.join(_INSERTED)}, received_at) VALUES "
                         + ", ".join([_ROW] * len(rows)))
            try:
                self._con.execute(statement, values)
            except duckdb.ConstraintException:
                stored = set(self._con.execute(
                    statement + " ON CONFLICT DO NOTHING RETURNING workspace_id, id",
                    values).fetchall())
        for pending, mine in zip(group, keys, strict=True):
            pending.stored = {key[1] for key in mine if stored is None or key in stored}

    def _insert(self, batch: pa.Table, *, checked: bool) -> list[tuple[int, str]] | None:
        """Insert `batch` (SCHEMA and seq); `checked` skips stored keys and returns the keys
        stored now. A few rows go in as bound values: the Arrow scan of a tiny table costs
        more, and takes the GIL back several times, each a wait while a busy server thread
        holds it."""
        tail = " ON CONFLICT DO NOTHING RETURNING workspace_id, id" if checked else ""
        if batch.num_rows <= _FEW_ROWS:
            values = [value for row in zip(*(batch[name].to_pylist() for name in _INSERTED),
                                           strict=True) for value in row]
            result = self._con.execute(
                f"INSERT INTO events ({', '.join(_INSERTED)}, received_at) VALUES "
                + ", ".join([_ROW] * batch.num_rows) + tail, values)
        else:
            result = self._con.execute(
                f"INSERT INTO events ({', '.join(_INSERTED)}, received_at) "
                f"SELECT {', '.join(_INSERTED)}, now() FROM batch" + tail)
        return result.fetchall() if checked else None

    @contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer's connection, for a write other than an event append (bulk responses,
        retention, erasure): serialised with the writer thread's appends, after the
        journal's answers are in."""
        if self.settle is not None:
            self.settle()
        with self._write:
            yield self._con

    @contextmanager
    def reading(self, *, settled: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own, so reads in other threads do not wait for the writer.
        `settled=False` skips draining the response journal first (a submission's own
        reads: they do not read responses, or read the journal themselves)."""
        if settled and self.settle is not None:
            self.settle()
        with self._readers.reading():
            cursor = self._con.cursor()
            cursor.execute("SET TimeZone = 'UTC'")  # a cursor is a connection of its own
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


def deleted(con: Any, statement: str, params: list[Any]) -> int:
    """Run a DELETE; how many rows it deleted (DuckDB answers a DELETE with its count)."""
    row = con.execute(statement, params).fetchone()
    return int(row[0]) if row else 0
