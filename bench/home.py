"""The home page on the demo: how long an administrator's cards of every workspace take, and
how many statements each store runs for them. Progress goes to stderr; the last stdout line
is one JSON object.

    python bench/home.py                   # the default demo: 20,000 customers, 180 days
    python bench/home.py --customers 3000  # a quick run

The demo ends today, so the week is the demo's last 7 days against the 7 before. Measured
in one process: `home.build` for the administrator (every workspace, every figure), each
run after a warm-up, and as the named baseline the scores page's build of the largest
workspace (scores.build: one workspace's overall scores, breakdown and both trends) in the
same process, so `ratio_to_scores_page` says what the whole home page costs next to one
page the reader already opens. Statements are counted on the app store (SQLAlchemy's
cursor events) and on the event store (its cursors' execute calls, wrapped for the run),
on the first build (documents not yet parsed) and on a warm one (as on a running server).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import generate
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.sessions import Viewer
from kokemus.web import home, scores


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Counted:
    """The event store's reading cursors, their execute calls counted."""

    def __init__(self, kk: bootstrap.Kokemus) -> None:
        self.kk, self.n = kk, 0
        self._reading = kk.events.reading

    def __enter__(self) -> Counted:
        counter = self
        original = self._reading

        class Cursor:
            def __init__(self, inner: Any) -> None:
                self._inner = inner

            def execute(self, *args: Any, **kwargs: Any) -> Any:
                counter.n += 1
                return self._inner.execute(*args, **kwargs)

            def sql(self, *args: Any, **kwargs: Any) -> Any:
                counter.n += 1
                return self._inner.sql(*args, **kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(self._inner, name)

        from contextlib import contextmanager

        @contextmanager
        def reading(*args: Any, **kwargs: Any) -> Any:
            with original(*args, **kwargs) as cursor:
                yield Cursor(cursor)

        self.kk.events.reading = reading  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        self.kk.events.reading = self._reading  # type: ignore[method-assign]


def timed(runs: int, work: Any) -> list[float]:
    work()  # warm: parsed documents, catalogs, templates
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kokemus-bench-home-"))
    settings = Settings(data_dir=folder / "data", secret_key="bench")
    with bootstrap.build(settings) as kk:
        log(f"demo: {args.customers:,} customers, {args.days} days, in {folder}")
        start = time.perf_counter()
        generate.run(kk, customers=args.customers, days=args.days,
                     end=datetime.now(UTC).date())
        log(f"demo generated in {time.perf_counter() - start:.1f} s")
        access.create_user(kk.db, "root", "bench-password", admin=True)
        roles = access.workspace_roles(kk.db, 1, admin=True)
        viewer = Viewer(id=1, username="root", is_admin=True, language="fi")
        statements = {"app": 0}

        def count(*_: object) -> None:
            statements["app"] += 1

        event.listen(kk.db, "before_cursor_execute", count)
        with Counted(kk) as cold_events:
            view = home.build(kk, viewer, roles, "fi")
        cold = statements["app"]
        statements["app"] = 0
        with Counted(kk) as events:  # warm: the documents parsed, as on a running server
            view = home.build(kk, viewer, roles, "fi")
        event.remove(kk.db, "before_cursor_execute", count)
        log(f"{len(view.cards)} cards: {statements['app']} app-store and {events.n} "
            f"event-store statements ({cold} and {cold_events.n} on the first, cold build)")
        home_s = timed(args.runs, lambda: home.build(kk, viewer, roles, "fi"))
        largest = max(view.cards, key=lambda c: int(c.responses.replace("\u202f", "")))
        ws = workspace_service.get(kk.db, largest.slug)
        filters = scores.parse_filters(None, None, None, None, None,
                                       [s.id for s in ws.document.surveys])
        scores_s = timed(args.runs, lambda: scores.build(kk, ws, filters, "fi"))
        events_n = kk.events.count(ws.id)
    median_home, median_scores = statistics.median(home_s), statistics.median(scores_s)
    log(f"home page {median_home * 1000:.0f} ms (median of {args.runs}); the scores page of "
        f"{largest.slug} {median_scores * 1000:.0f} ms")
    print(orjson.dumps({
        "bench": "home", "customers": args.customers, "days": args.days,
        "workspaces": len(view.cards), "largest": largest.slug,
        "largest_events": events_n, "home_ms_median": round(median_home * 1000, 1),
        "home_ms_runs": [round(s * 1000, 1) for s in home_s],
        "scores_page_ms_median": round(median_scores * 1000, 1),
        "ratio_to_scores_page": round(median_home / median_scores, 2),
        "app_store_statements": statements["app"], "event_store_statements": events.n,
        "cold_app_store_statements": cold, "cold_event_store_statements": cold_events.n,
        "day": date.today().isoformat(),
    }).decode())


if __name__ == "__main__":
    main()
