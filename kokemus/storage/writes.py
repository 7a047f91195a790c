"""Group commit for small app-store writes on a hot path.

A survey submission writes its response to the journal and marks its invitation (opened,
answered). Two hundred submissions a second, each in its own transaction, cost two hundred
commits: on SQLite each one an fsync that holds the database's one write lock, while the
other writers sleep in SQLite's busy-retry backoff (1, 2, 5, 10 ... ms), which made the
slowest submissions wait hundreds of milliseconds. Here the writes go through a
GroupCommit: one commit per group, the same durability, no lock contention.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine, Executable

from kokemus.storage.groups import GroupCommit

# A handler writes a group of payloads in the caller's transaction and returns, per
# payload, its result or the exception that payload alone failed with (nothing written).
Handler = Callable[[Connection, list[Any]], list[Any]]


class _Job:
    __slots__ = ("future", "handler", "payload")

    def __init__(self, handler: Handler, payload: Any) -> None:
        self.handler = handler
        self.payload = payload
        self.future: Future[Any] = Future()


def _statements(conn: Connection, statements: list[Executable]) -> list[Any]:
    for statement in statements:
        conn.execute(statement)
    return [None] * len(statements)


class Writes:
    def __init__(self, db: Engine) -> None:
        self._db = db
        self._group: GroupCommit[_Job] = GroupCommit(self._write_group, "kokemus-app-writer")

    def run(self, statement: Executable) -> None:
        """Execute `statement` in the next group's transaction; return once it is committed
        (the statement's own error, if it fails)."""
        self.submit(statement).result()

    def submit(self, statement: Executable) -> Future[None]:
        future: Future[None] = self.submit_job(_statements, statement)
        return future

    def submit_job(self, handler: Handler, payload: Any) -> Future[Any]:
        """Hand `payload` to `handler` in the next group's transaction, with every other
        payload of the same handler waiting then; the future settles after the commit."""
        job = _Job(handler, payload)
        self._group.put(job)
        return job.future

    def close(self) -> None:
        self._group.close()

    def _write_group(self, group: list[_Job]) -> None:
        try:
            results = self._write(group)
        except Exception:
            # One bad write must not fail the others: write them one by one.
            for job in group:
                try:
                    one = self._write([job])
                except Exception as exc:
                    job.future.set_exception(exc)
                else:
                    _settle(job, one[job])
        else:
            for job in group:
                _settle(job, results[job])

    def _write(self, group: list[_Job]) -> dict[_Job, Any]:
        results: dict[_Job, Any] = {}
        with self._db.begin() as conn:
            for handler in dict.fromkeys(job.handler for job in group):
                mine = [job for job in group if job.handler == handler]  # bound methods: ==
                results.update(zip(mine, handler(conn, [job.payload for job in mine]),
                                   strict=True))
        return results


def _settle(job: _Job, result: Any) -> None:
    if isinstance(result, BaseException):
        job.future.set_exception(result)
    else:
        job.future.set_result(result)
