"""The worker: plan invitations from new events, then dispatch the due ones, every N seconds.

`kokemus serve` runs it in a background thread (settings `worker`, `worker_interval`);
`kokemus feedback run` runs it once. A failing run is logged and the next one tries again:
everything it does is kept in the app store, so nothing is lost between runs.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from kokemus.bootstrap import Kokemus
from kokemus.engine.dispatch import Dispatched, dispatch
from kokemus.engine.mail import Mailer
from kokemus.engine.triggers import Planned, plan

log = logging.getLogger("kokemus.engine")


def run_once(kk: Kokemus, now: datetime | None = None,
             mailer: Mailer | None = None) -> tuple[Planned, Dispatched]:
    """Plan, then dispatch, at `now` (default: the clock)."""
    now = now or datetime.now(UTC)
    return plan(kk, now), dispatch(kk, now, mailer)


class Worker:
    """`run_once` every `interval` seconds in a daemon thread until `stop()`."""

    def __init__(self, kk: Kokemus, interval: float) -> None:
        self.kk = kk
        self.interval = interval
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kokemus-worker", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to end and wait for a run in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                planned, sent = run_once(self.kk)
                if planned.invited or sent.sent or sent.failed:
                    log.info("invitations: %d planned, %d sent, %d failed",
                             planned.invited, sent.sent, sent.failed)
            except Exception:  # the next run tries again; the server must keep serving
                log.exception("invitation run failed")
            self.runs += 1
            self._stop.wait(self.interval)
