"""The response journal: a survey submission is acknowledged after one app-store commit.

A submission's new response row goes into `response_journal` in the same app-store
transaction as its invitation's marks, through the app store's group writer (one commit
for all the submissions waiting). A drain moves the journal into the event store's
responses table in bulk, shortly after, and then forgets what it moved, except the newest
revision of a response still in progress, which stays (marked drained) for a day: the
respondent's next post merges with it without a DuckDB read (~0.7 ms each). Before, each
submission waited for a DuckDB read-modify-write and commit (15-30 ms a group under load)
and then, in series, for the app store's commit.

What every path keeps:
- A response's newest revision is in the journal or, once drained, in DuckDB; the drain
  commits DuckDB before it forgets or marks a journal row, and applies a revision only over
  an older one, so a crash between the two, or a second drain, changes nothing. A drained
  row may be forgotten at any time (DuckDB has it): erasure and retention do.
- Every reader of DuckDB's responses sees it: `EventStore.reading` and `writing` settle
  (drain) first when the journal holds rows not applied yet (analytics, export, erasure,
  retention, the API's reads). The submission path reads without settling, through `get`,
  which looks in the journal first.
- Two submissions of one response never lose each other's answers: the writer merges each
  over the journal's newest row read in its own transaction; only when the journal holds
  none does it take the row the caller read from DuckDB, and a journal row is not
  forgotten while a submission of its response is between that read and its commit
  (`held`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import orjson
from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    select,
    true,
)
from sqlalchemy import update as update_rows

from kokemus.storage import responses
from kokemus.storage.events import EventStore
from kokemus.storage.tables import invitations, response_journal
from kokemus.storage.writes import Writes

log = logging.getLogger(__name__)

_DRAIN_ROWS = 5000  # journal rows moved per DuckDB transaction
_KEEP = timedelta(days=1)  # how long a drained response in progress stays in the journal
_TIMES = ("started_at", "updated_at")

# The invitation's marks, written with the response: opened (if not yet), answered when the
# response is complete, and the revision saved (so a later post knows where to look).
_MARKS = update_rows(invitations).where(invitations.c.id == bindparam("b_id")).values(
    opened_at=func.coalesce(invitations.c.opened_at, bindparam("b_now")),
    answered_at=case((bindparam("b_done", type_=Boolean), func.coalesce(
        invitations.c.answered_at, bindparam("b_now"))), else_=invitations.c.answered_at),
    status=case((bindparam("b_done", type_=Boolean), "answered"), else_=invitations.c.status),
    response_revision=bindparam("b_revision"),
)
_KEY = (response_journal.c.workspace_id == bindparam("b_ws"),
        response_journal.c.id == bindparam("b_id"))
# The hot statements built once: SQLAlchemy keeps each one's cache key with it, so a group
# of posts pays neither the building nor the key.
_NEWEST = (select(response_journal.c.row).where(*_KEY)
           .order_by(response_journal.c.revision.desc()).limit(1))
_SAVED = select(response_journal.c.id, response_journal.c.revision, response_journal.c.row).where(
    response_journal.c.workspace_id == bindparam("b_ws"),
    response_journal.c.id.in_(bindparam("b_ids", expanding=True)))
_INSERT = insert(response_journal)
# a complete response's drained revisions go; of one in progress, the older ones go and
# the newest stays, marked drained
_FORGET = delete(response_journal).where(
    *_KEY, response_journal.c.revision <= bindparam("b_revision"))
_FORGET_OLDER = delete(response_journal).where(
    *_KEY, response_journal.c.revision < bindparam("b_revision"))
_DRAINED = update_rows(response_journal).where(
    *_KEY, response_journal.c.revision == bindparam("b_revision")).values(drained=True)


@dataclass(frozen=True)
class Entry:
    """One submission for the writer: `change` makes the new row from the saved one (None:
    a new response); `saved` is the row the caller read, used when the journal has none;
    `invitation` (id) is marked in the same transaction."""

    workspace_id: int
    response_id: str
    change: responses.Change
    saved: dict[str, Any] | None
    invitation: str | None
    now: datetime


def dumps(row: dict[str, Any]) -> str:
    return orjson.dumps(row).decode()


def loads(text: str) -> dict[str, Any]:
    row: dict[str, Any] = orjson.loads(text)
    for column in _TIMES:
        row[column] = datetime.fromisoformat(row[column])
    return row


class Journal:
    """The journal of one app store, drained into `events()` (opened when first needed)."""

    def __init__(self, db: Engine, writes: Writes, events: Callable[[], EventStore], *,
                 interval: float = 0.2) -> None:
        self._db = db
        self._writes = writes
        self._events = events
        self._interval = interval
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()
        # Rows not applied to DuckDB may be in the journal: unknown at start (a process
        # may have stopped before its drain), so the first reader drains.
        self._unapplied = True
        self._wrote = False
        self._draining = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------- writing

    @contextmanager
    def held(self, response_id: str) -> Iterator[None]:
        """Hold the journal's rows of `response_id` while a submission reads what is saved
        and writes over it (see the module's text)."""
        with self._lock:
            self._held[response_id] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[response_id] -= 1
                if self._held[response_id] <= 0:
                    del self._held[response_id]

    def get(self, workspace_id: int, response_id: str) -> dict[str, Any] | None:
        """The newest saved row of a response: the journal's, else the event store's."""
        with self._db.connect() as conn:
            text = conn.execute(_NEWEST, {"b_ws": workspace_id, "b_id": response_id}).scalar()
        if text is not None:
            return loads(text)
        return responses.get(self._events(), workspace_id, response_id, settled=False)

    def submit(self, entry: Entry) -> Future[dict[str, Any]]:
        """Write `entry` in the app store's next group; the future gives the new row once it
        is committed, or the exception of its `change` (nothing written)."""
        future: Future[dict[str, Any]] = self._writes.submit_job(self._write, entry)
        future.add_done_callback(self._committed)  # before the caller's: it runs first
        return future

    def _write(self, conn: Connection, entries: list[Entry]) -> list[Any]:
        newest: dict[tuple[int, str], tuple[int, str]] = {}
        for workspace_id in dict.fromkeys(e.workspace_id for e in entries):
            ids = list(dict.fromkeys(e.response_id for e in entries
                                     if e.workspace_id == workspace_id))
            # by the primary key's prefix (workspace, id): the journal keeps a day of
            # responses in progress, tens of thousands of rows in a blast
            for ident, revision, text in conn.execute(
                    _SAVED, {"b_ws": workspace_id, "b_ids": ids}):
                key = (workspace_id, ident)
                if revision > newest.get(key, (0, ""))[0]:
                    newest[key] = (revision, text)
        current = {key: loads(text) for key, (_, text) in newest.items()}
        results: list[Any] = []
        rows: list[dict[str, Any]] = []
        marks: list[dict[str, Any]] = []
        saved_at = datetime.now(UTC)  # the clock, not the caller's `now`: _KEEP counts it
        for entry in entries:  # in arrival order: a later entry sees an earlier one's row
            key = (entry.workspace_id, entry.response_id)
            try:
                new = entry.change(current.get(key, entry.saved))
            except Exception as exc:
                results.append(exc)
                continue
            current[key] = new
            rows.append({"workspace_id": new["workspace_id"], "id": new["id"],
                         "revision": new["revision"], "customer": new["customer"],
                         "row": dumps(new), "drained": False, "saved_at": saved_at})
            if entry.invitation is not None:
                marks.append({"b_id": entry.invitation, "b_now": entry.now,
                              "b_done": bool(new["complete"]), "b_revision": new["revision"]})
            results.append(new)
        if rows:
            conn.execute(_INSERT, rows)
        if marks:
            conn.execute(_MARKS, marks)
        return results

    def _committed(self, future: Future[dict[str, Any]]) -> None:
        """After a write's commit and before its caller hears of it: from now on a reader
        settles (drains) first, and the drain thread is woken."""
        if future.exception() is not None:
            return
        self._unapplied = True
        self._wrote = True
        with self._lock:
            if self._thread is None and not self._closing:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="kokemus-journal-drain")
                self._thread.start()
        self._wake.set()

    # ---------------------------------------------------------------------------- draining

    def settle(self) -> None:
        """Drain now if the journal may hold rows DuckDB does not have yet, or wait for the
        drain in progress: it clears `_unapplied` before it applies what it read, so a
        reader that only looked at the flag could read DuckDB before the rows are there."""
        if self._unapplied or self._draining.locked():
            self.drain()

    def drain(self) -> int:
        """Move the journal into DuckDB; how many rows were applied."""
        applied = 0
        with self._draining:
            while True:
                self._unapplied = False
                with self._db.connect() as conn:
                    found = conn.execute(
                        select(response_journal.c.workspace_id, response_journal.c.id,
                               response_journal.c.revision, response_journal.c.row)
                        .where(response_journal.c.drained == false())
                        .order_by(response_journal.c.workspace_id, response_journal.c.id,
                                  response_journal.c.revision)
                        .limit(_DRAIN_ROWS)).all()
                if not found:
                    return applied
                newest: dict[tuple[int, str], tuple[int, str]] = {}
                for ws, ident, revision, text in found:  # ordered: the last is the newest
                    newest[(ws, ident)] = (revision, text)
                rows = [loads(text) for _, text in newest.values()]
                applied += int(self._events().submit_job(_apply, rows).result())
                left = self._writes.submit_job(self._forget, [
                    (row["workspace_id"], row["id"], row["revision"], bool(row["complete"]))
                    for row in rows]).result()
                if left or len(found) < _DRAIN_ROWS:
                    # held rows stay until a later drain (they are applied already)
                    if left:
                        self._wake.set()
                    return applied

    def _forget(self, conn: Connection,
                groups: list[list[tuple[int, str, int, bool]]]) -> list[Any]:
        """Forget drained revisions (see _FORGET), except those of a response a submission
        holds, and drained rows older than _KEEP; per group, how many were held."""
        results: list[Any] = []
        for drained in groups:
            with self._lock:
                free = [d for d in drained if d[1] not in self._held]
            done = [{"b_ws": ws, "b_id": ident, "b_revision": revision}
                    for ws, ident, revision, complete in free if complete]
            going = [{"b_ws": ws, "b_id": ident, "b_revision": revision}
                     for ws, ident, revision, complete in free if not complete]
            if done:
                conn.execute(_FORGET, done)
            if going:
                conn.execute(_FORGET_OLDER, going)
                conn.execute(_DRAINED, going)
            results.append(len(drained) - len(free))
        conn.execute(delete(response_journal).where(
            response_journal.c.drained == true(),
            response_journal.c.saved_at < datetime.now(UTC) - _KEEP))
        return results

    def forget_drained(self, workspace_id: int) -> None:
        """Forget a workspace's drained rows (DuckDB holds each of them)."""
        self._writes.run(delete(response_journal).where(
            response_journal.c.workspace_id == workspace_id,
            response_journal.c.drained == true()))

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            # Let a burst's rows gather: one DuckDB transaction for many of them.
            self._stop.wait(self._interval)
            self._wake.clear()
            if self._closing:  # close() drains what is left
                return
            try:
                self.drain()
            except Exception:  # the rows stay in the journal; a later drain applies them
                log.exception("draining the response journal failed; retrying")
                self._unapplied = True
                self._stop.wait(1.0)
                self._wake.set()

    def close(self) -> None:
        """Stop the drain thread and drain what this process wrote."""
        with self._lock:
            self._closing = True
            thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join()
        if self._wrote:
            self.drain()


def _apply(con: duckdb.DuckDBPyConnection, groups: list[list[dict[str, Any]]]) -> list[Any]:
    """Put journal rows into DuckDB (in the event store's writer, in its transaction): each
    row replaces an older revision of its response and is skipped over a newer or equal
    one, so applying twice is applying once. Per group, how many rows were applied."""
    rows = {(r["workspace_id"], r["id"]): r for group in groups for r in group}
    stored: dict[tuple[int, str], int] = {}
    ids = list(dict.fromkeys(ident for _, ident in rows))
    for start in range(0, len(ids), 1000):
        part = ids[start:start + 1000]
        for ws, ident, revision in con.execute(
                "SELECT workspace_id, id, revision FROM responses WHERE id IN "
                f"({', '.join('?' for _ in part)})", part).fetchall():
            if (ws, ident) in rows:
                stored[(ws, ident)] = max(revision, stored.get((ws, ident), 0))
    fresh = [key for key, row in rows.items() if row["revision"] > stored.get(key, 0)]
    if fresh:
        responses.replace(con, [rows[key] for key in fresh],
                          [key for key in fresh if key in stored])
    done = set(fresh)
    return [sum(1 for r in group if (r["workspace_id"], r["id"]) in done) for group in groups]
