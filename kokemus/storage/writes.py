"""Group commit for small app-store writes on a hot path.

A survey submission marks its invitation (opened, answered). Two hundred submissions a second,
each in its own transaction, cost two hundred commits: on SQLite each one an fsync that holds
the database's one write lock, while the other writers sleep in SQLite's busy-retry backoff
(1, 2, 5, 10 ... ms), which made the slowest submissions wait hundreds of milliseconds. Here
one thread writes every statement waiting by the time it is free in one transaction: one
commit per group, the same durability, no lock contention.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from sqlalchemy import Engine, Executable


class Writes:
    def __init__(self, db: Engine) -> None:
        self._db = db
        self._queue: list[tuple[Executable, Future[None]]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    def run(self, statement: Executable) -> None:
        """Execute `statement` in the next group's transaction; return once it is committed
        (the statement's own error, if it fails)."""
        self.submit(statement).result()

    def submit(self, statement: Executable) -> Future[None]:
        done: Future[None] = Future()
        with self._wake:
            if self._closing:
                raise RuntimeError("the app store is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="kokemus-app-writer")
                self._thread.start()
            self._queue.append((statement, done))
            self._wake.notify()
        return done

    def close(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if not self._queue:
                    return
                group, self._queue = self._queue, []
            try:
                self._write(group)
            except Exception:
                # One bad statement must not fail the others: write them one by one.
                for item in group:
                    try:
                        self._write([item])
                    except Exception as exc:
                        item[1].set_exception(exc)
                    else:
                        item[1].set_result(None)
            else:
                for _, done in group:
                    done.set_result(None)

    def _write(self, group: list[tuple[Executable, Future[None]]]) -> None:
        with self._db.begin() as conn:
            for statement, _ in group:
                conn.execute(statement)
