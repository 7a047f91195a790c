"""Group commit: one thread writes every item that waits by the time it is free, together.

Many small writes then cost one transaction (one commit, one fsync) per group instead of one
each, and writers never contend for the database's lock. The event store and the app store's
hot-path writes both use it; the items carry their own futures, which `write` settles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from kokemus.domain.errors import KokemusError

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None], name: str) -> None:
        self._write = write
        self._name = name
        self._queue: list[T] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False

    def put(self, item: T) -> None:
        with self._wake:
            if self._closing:
                raise KokemusError("the store is closed")
            if self._thread is None:  # started on first use: a read-only process has none
                self._thread = threading.Thread(target=self._loop, daemon=True, name=self._name)
                self._thread.start()
            self._queue.append(item)
            self._wake.notify()

    def close(self) -> None:
        """Write what waits, then stop the thread."""
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
            self._write(group)
