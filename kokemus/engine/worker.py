"""The worker: plan invitations from new events, dispatch the due ones and advance the
promise clocks (engine/clocks.py: occurrences at risk or breached marked as events), every N
seconds; now and then rebuild the case-ordered copy of the journeys the sequence analytics
read; and every hour (and on its first run) apply the workspaces' retention periods
(services/retention.py: old events deleted, old comments removed, copies rebuilt) and
remove timed-out web sessions.

`kokemus serve` runs it in a background thread (settings `worker`, `worker_interval`,
`journey_order_interval`); `kokemus feedback run` runs it once. A failing run is logged and
the next one tries again: everything it does is kept in the stores, so nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from kokemus.analytics import ordering
from kokemus.bootstrap import Kokemus
from kokemus.engine import clocks
from kokemus.engine.dispatch import Dispatched, dispatch
from kokemus.engine.mail import Mailer
from kokemus.engine.triggers import Planned, plan
from kokemus.services import cases, retention, sessions

RETENTION_SECONDS = 3600.0  # between two retention runs of the worker
# One engine run at a time in a process: the worker's, or a command that `kokemus serve`
# runs for the CLI (`feedback plan/send/run`, `journeys order`), never both at once.
RUNS = threading.Lock()

log = logging.getLogger("kokemus.engine")


def run_once(kk: Kokemus, now: datetime | None = None,
             mailer: Mailer | None = None) -> tuple[Planned, Dispatched]:
    """Plan, then dispatch, at `now` (default: the clock)."""
    now = now or datetime.now(UTC)
    return plan(kk, now), dispatch(kk, now, mailer)


def order_journeys(kk: Kokemus, *, force: bool = False) -> ordering.Refresh:
    """Rebuild the event store's case-ordered copy of the journeys if events came since
    (on a cursor of its own: events keep arriving meanwhile)."""
    with kk.events.reading() as cursor:
        return ordering.refresh(cursor, force=force)


class Worker:
    """`run_once` every `interval` seconds in a daemon thread until `stop()`."""

    def __init__(self, kk: Kokemus, interval: float) -> None:
        self.kk = kk
        self.interval = interval
        self.runs = 0
        self._ordered_at: float | None = None  # monotonic time of the last copy check
        self._retained_at: float | None = None  # monotonic time of the last retention run
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
            with RUNS:
                try:
                    planned, sent = run_once(self.kk)
                    if planned.invited or sent.sent or sent.failed:
                        log.info("invitations: %d planned, %d sent, %d failed",
                                 planned.invited, sent.sent, sent.failed)
                except Exception:  # the next run tries again; the server must keep serving
                    log.exception("invitation run failed")
                self._advance_clocks()
                self._escalate_cases()
                self._retain_when_due()
                self._order_when_due()
            self.runs += 1
            self._stop.wait(self.interval)

    def _advance_clocks(self) -> None:
        try:
            marked = clocks.advance(self.kk)
            if marked.at_risk or marked.breached:
                log.info("promise clocks: %d at risk, %d breached marked",
                         marked.at_risk, marked.breached)
        except Exception:  # the next run tries again: marks not written now are written then
            log.exception("advancing the promise clocks failed")

    def _escalate_cases(self) -> None:
        try:  # services/cases.py: the SLA marks, each once, before the rules read the events
            done = cases.escalate(self.kk.db, self.kk.events)
            if done.at_risk or done.breached:
                log.info("cases: %d at risk, %d breached marked", done.at_risk, done.breached)
        except Exception:  # the next run tries again: a case not marked now is marked then
            log.exception("escalating the cases failed")

    def _retain_when_due(self) -> None:
        now = time.monotonic()
        if self._retained_at is not None and now - self._retained_at < RETENTION_SECONDS:
            return
        self._retained_at = now
        try:
            done = retention.apply(self.kk)
            if done.removed:
                log.info("retention: events deleted %s, comments removed %s",
                         done.events, done.comments)
        except Exception:
            log.exception("applying the retention periods failed")
        try:  # timed-out sessions are refused when used; this clears the ones never used again
            settings = self.kk.settings
            sessions.sweep(self.kk.db, idle=settings.session_idle_timeout,
                           absolute=settings.session_max_age)
        except Exception:
            log.exception("removing ended sessions failed")

    def _order_when_due(self) -> None:
        every = self.kk.settings.journey_order_interval
        now = time.monotonic()
        if every <= 0 or (self._ordered_at is not None and now - self._ordered_at < every):
            return
        self._ordered_at = now
        try:
            done = order_journeys(self.kk)
            if done.rebuilt:
                log.info("journeys in case order up to event %d: %s rows in %.1f s",
                         done.upto_seq, sum(done.rows.values()), done.seconds)
        except Exception:
            log.exception("ordering the journeys failed")
