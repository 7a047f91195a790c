"""The worker: plan invitations from new events, advance the promise clocks
(engine/clocks.py: occurrences at risk or breached marked as events), let the rules decide
on what happened (engine/rules.py: rows of the actions outbox), dispatch the due
invitations and deliver the due actions (engine/deliver.py), every N seconds; now and then
rebuild the case-ordered copy of the journeys the sequence analytics read; and every hour
(and on its first run) apply the workspaces' retention periods (services/retention.py: old
events deleted, old comments removed, copies rebuilt) and remove timed-out web sessions.

`kokemus serve` runs it in a background thread (settings `worker`, `worker_interval`,
`journey_order_interval`); `kokemus worker` runs it on its own, in the foreground;
`kokemus feedback run` runs the invitations' part once. A worker without the event store
(`events=False`: another process, a server, holds it) only dispatches and delivers, which
need the app store alone: beside a server, it adds delivery capacity. A failing step is
logged and the next run tries again: everything it does is kept in the stores, so nothing
is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from kokemus.analytics import ordering
from kokemus.bootstrap import Kokemus
from kokemus.engine import clocks, rules
from kokemus.engine.deliver import deliver
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
    """`cycle` every `interval` seconds until `stop()`: in a daemon thread (`start`, the
    server's) or in the calling thread (`run`, `kokemus worker`). `events=False`: the
    steps that read the event store are left to whoever holds it."""

    def __init__(self, kk: Kokemus, interval: float, *, events: bool = True) -> None:
        self.kk = kk
        self.interval = interval
        self.events = events
        self.runs = 0
        self._ordered_at: float | None = None  # monotonic time of the last copy check
        self._retained_at: float | None = None  # monotonic time of the last retention run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name="kokemus-worker", daemon=True)

    def start(self) -> Worker:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to end and wait for a run in progress to finish (its delivery stops
        after the batch in hand)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """The loop, in this thread, until `stop()`."""
        while not self._stop.is_set():
            self.cycle()
            self.runs += 1
            self._stop.wait(self.interval)

    def cycle(self) -> None:
        """One run of every step, each on its own: one failing leaves the others be."""
        with RUNS:
            if self.events:
                self._plan()
                self._advance_clocks()
                self._escalate_cases()
                self._decide()
            self._dispatch()
            self._deliver()
            if self.events:
                self._retain_when_due()
                self._order_when_due()

    def _plan(self) -> None:
        try:
            planned = plan(self.kk)
            if planned.invited:
                log.info("invitations: %d planned", planned.invited)
        except Exception:  # the next run tries again; the server must keep serving
            log.exception("planning invitations failed")

    def _dispatch(self) -> None:
        try:
            sent = dispatch(self.kk)
            if sent.sent or sent.failed:
                log.info("invitations: %d sent, %d failed", sent.sent, sent.failed)
        except Exception:
            log.exception("dispatching invitations failed")

    def _decide(self) -> None:
        try:
            decided = rules.run(self.kk)
            if decided.planned:
                log.info("rules: %d actions planned", decided.planned)
        except Exception:  # the cursors did not move: the next run decides the same again
            log.exception("running the rules failed")

    def _deliver(self) -> None:
        try:
            done = deliver(self.kk, stop=self._stop.is_set)
            if done.busy():
                log.info("actions: %d delivered, %d skipped, %d to retry, %d dead",
                         done.delivered, sum(done.skipped.values()), done.retrying, done.dead)
        except Exception:  # leased rows are delivered when their lease runs out
            log.exception("delivering actions failed")

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
