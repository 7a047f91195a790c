"""Promise benchmark: five commitments judged over a 10M-event store, and the live clocks
marking 10,000 open occurrences, in one run. Progress goes to stderr; the last stdout line
is one JSON object with the figures.

    python bench/promises.py                     # 10M events (about a minute on 2 cores)
    python bench/promises.py --events 1000000    # a smaller store

The store: a fresh data folder (`bootstrap.build`), the workspace below applied, and
`events` rows generated inside DuckDB (hash() draws, the same on every run) straight into
the event store's table, its primary key included, over a year before NOW:

- orders (`order_placed`, with properties `order`, `delivery` express or standard and
  `installation`), 92 % installed (`installed`, the same `order`) 2 to 90 h later, times
  in whole minutes (equal timestamps happen); every 20th order refused a cancellation
  (`cancellation_refused`, same `order`) within 40 days;
- delivery delays told (`delivery_delayed` -> `delay_notified`, 90 % told, 0 to 4 h);
- complaints answered (`complaint` -> `complaint_answered`, 88 %, 0 to 48 h);
- service contacts with a need (`reason`, one of five) by 30 % of the customers, so a need
  comes back within the week often enough;
- page views (`page_viewed`, properties `page`) for the rest: two fifths of the store are
  events no commitment reads;
- in the last days: closed occurrences of every kind, and 10,000 occurrences left open
  (4,000 express orders not installed, 2,000 delays not told, 2,000 complaints not
  answered, 2,000 first contacts near the end of their week), each either at risk or past
  its limit at NOW, all of customers of their own.

Steps, each in a fresh process (its peak RSS, VmHWM, is its own):

- `generate`: the store as above (timed, not a target).
- `evaluate`: two floors first, a plain scan of the same events (`SELECT type, count(*)
  ... GROUP BY type`, `baseline_scan_s`) and the least a `within` does, one window over the
  orders and installations by customer in (time, seq) order (`baseline_window_s`); then the
  five commitments judged for the whole store as the scorecard does: one `occurrences()`
  call per commitment, every row materialised as Arrow. `promises_s` is the five together;
  `peak_mb` the largest peak RSS of this step and the next.
- `clocks`: `engine/clocks.advance` at NOW over the same store (four of the five have a
  clock), which writes the 10,000 marks (`clocks_10k_s`), then again a minute later, when
  every mark is already there (`clocks_again_s`).

Targets on 2 cores: promises_s < 10, peak_mb < 3,000, clocks_10k_s < 1.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday, 15:00 in Helsinki
DAY = 86400
OPEN = {"orders": 4000, "delays": 2000, "complaints": 2000, "contacts": 2000}

COMMITMENTS = """
      - id: express-installed-48h
        text: {fi: Pikatilaus asennettu 48 h, en: Express order installed within 48 h}
        start: order_placed
        end: installed
        within: 48h
        match: order
        where: {delivery: express}
      - id: delay-told-2h
        kind: respond
        text: {fi: Viiveestä kerrottu 2 h, en: Delay told within 2 h}
        start: delivery_delayed
        end: delay_notified
        within: 2h
      - id: complaint-answered-8h
        kind: respond
        text: {fi: Valitukseen vastattu työpäivässä, en: Complaint answered in a working day}
        start: complaint
        end: complaint_answered
        within: 8h
        business_hours: true
      - id: never-refused
        kind: never
        text: {fi: Peruutusta ei evätä, en: A cancellation is never refused}
        event: cancellation_refused
        start: order_placed
        within: 30d
        match: order
      - id: first-contact
        kind: first_contact
        text: {fi: Ratkaistu kerralla, en: Solved at the first contact}
        event: service_contact
        need: reason
        within: 7d
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_mb() -> float:
    """This process's peak RSS (VmHWM: ru_maxrss would count the parent at the fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def settings(folder: Path) -> Any:
    from kokemus.config import Settings

    return Settings(data_dir=folder / "data", secret_key="bench-secret")


# ---------------------------------------------------------------------------------- data


def workspace_file(folder: Path) -> Path:
    from kokemus.workspace import document

    text = (Path(document.__file__).parent / "starter.yaml").read_text(encoding="utf-8")
    anchor = "    commitments:\n"
    start = text.index(anchor) + len(anchor)
    end = text.index("journeys:\n")
    path = folder / "workspace.yaml"
    path.write_text(text[:start] + COMMITMENTS.lstrip("\n") + text[end:], encoding="utf-8")
    return path


def _stamp(offset_s: str) -> str:
    """NOW minus `offset_s` seconds (an SQL expression), in whole minutes."""
    return (f"(TIMESTAMPTZ '{NOW.isoformat()}' - "
            f"to_seconds(CAST(floor(({offset_s}) / 60) * 60 AS BIGINT)))")


def _u(i: str, salt: int) -> str:
    """A draw in [0, 1) from hash(i, salt)."""
    return f"(hash({i}, {salt}) % 1000000 / 1e6)"


CHANNEL = "(['web', 'email', 'phone'])[1 + CAST(hash(i, 9) % 3 AS INTEGER)]"
INSERT = ("INSERT INTO events (workspace_id, id, seq, type, customer, account, channel, "
          "touchpoint, occurred_at, received_at, properties) ")


def _rows(ws: int, seq0: int, n: int, *, ident: str, type_: str, customer: str, at: str,
          props: str = "NULL", where: str = "true", step: int = 1, nth: int = 0) -> str:
    """One generated event per i in range(n) (where `where` holds): seq seq0 + i * step + nth,
    so the rows of several kinds interleave in the ingest order."""
    return (f"SELECT {ws}, {ident}, {seq0} + i * {step} + {nth}, '{type_}', {customer}, NULL, "
            f"{CHANNEL}, NULL, {at}, {at}, {props} FROM range({n}) AS r(i) WHERE {where}")


def generate(folder: Path, events: int) -> dict[str, Any]:
    """The store in `folder` (see the module's docstring); its figures."""
    from kokemus import bootstrap
    from kokemus.services import workspaces
    from kokemus.workspace import document

    scale = events / 10_000_000
    orders, delays = int(1_600_000 * scale), int(400_000 * scale)
    complaints, contacts = int(400_000 * scale), int(1_200_000 * scale)
    customers = max(int(1_000_000 * scale), 10)
    recent = {"orders": 40_000, "delays": 10_000, "complaints": 10_000, "contacts": 10_000}
    started = time.perf_counter()
    with bootstrap.build(settings(folder)) as kk:
        workspaces.apply(kk.db, document.load(workspace_file(folder)))
        ws = workspaces.get(kk.db, "my-company").id
        history = f"(12 * {DAY} + hash(i, 2) % (353 * {DAY}))"  # 12 to 365 days before NOW
        parts: list[str] = []
        seq = 1

        def add(n: int, kinds: int) -> int:
            nonlocal seq
            first = seq
            seq += n * kinds
            return first

        # orders: start, end (8 % never), every 20th refused a cancellation (before NOW)
        s = add(orders, 3)
        order = "'o' || i"
        placed = _stamp(history)
        express = f"{_u('i', 5)} < 0.3"
        parts += [
            _rows(ws, s, orders, ident="'op' || i", type_="order_placed",
                  customer=f"'c' || hash(i, 1) % {customers}", at=placed, step=3,
                  props=f"""'{{"order":"' || {order} || '","delivery":"' ||
                            CASE WHEN {express} THEN 'express' ELSE 'standard' END ||
                            '","installation":' || ({_u('i', 6)} < 0.6) || '}}'"""),
            _rows(ws, s, orders, ident="'oi' || i", type_="installed",
                  customer=f"'c' || hash(i, 1) % {customers}", step=3, nth=1,
                  at=_stamp(f"{history} - (2 * 3600 + {_u('i', 3)} ^ 2 * 88 * 3600)"),
                  props=f"""'{{"order":"' || {order} || '"}}'""",
                  where=f"{_u('i', 4)} >= 0.08"),
            _rows(ws, s, orders, ident="'oc' || i", type_="cancellation_refused",
                  customer=f"'c' || hash(i, 1) % {customers}", step=3, nth=2,
                  at=_stamp(f"greatest({history} - {_u('i', 7)} * 40 * {DAY}, 3600)"),
                  props=f"""'{{"order":"' || {order} || '"}}'""", where="i % 20 = 0"),
        ]
        for name, n, start, end, longest, told, salt in (
                ("d", delays, "delivery_delayed", "delay_notified", 4, 0.9, 20),
                ("q", complaints, "complaint", "complaint_answered", 48, 0.88, 30)):
            s = add(n, 2)
            who = f"'c' || hash(i, {salt}) % {customers}"
            when = f"(12 * {DAY} + hash(i, {salt + 1}) % (353 * {DAY}))"
            parts += [
                _rows(ws, s, n, ident=f"'{name}s' || i", type_=start, customer=who,
                      at=_stamp(when), step=2),
                _rows(ws, s, n, ident=f"'{name}e' || i", type_=end, customer=who, step=2,
                      nth=1, at=_stamp(f"{when} - {_u('i', salt + 2)} * {longest} * 3600"),
                      where=f"{_u('i', salt + 3)} < {told}"),
            ]
        s = add(contacts, 1)
        parts.append(_rows(
            ws, s, contacts, ident="'sc' || i", type_="service_contact",
            customer=f"'c' || hash(i, 40) % {max(customers * 3 // 10, 1)}",
            at=_stamp(f"12 * {DAY} + hash(i, 41) % (353 * {DAY})"),
            props="""'{"reason":"' || (['damaged', 'invoice', 'delivery', 'install',
                      'return'])[1 + CAST(hash(i, 42) % 5 AS INTEGER)] || '"}'"""))
        parts += recent_rows(ws, add, recent)
        with kk.events.writing() as con:
            con.execute("SET preserve_insertion_order = false")
            for part in parts:
                con.execute(INSERT + part)
            stored = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
            views = max(events - stored, 0)
            s = add(views, 1)
            con.execute(INSERT + _rows(
                ws, s, views, ident="'pv' || i", type_="page_viewed",
                customer=f"'c' || hash(i, 50) % {customers}",
                at=_stamp(f"hash(i, 51) % (365 * {DAY})"),
                props="""'{"page":"p' || hash(i, 52) % 500 || '"}'"""))
            con.execute("CHECKPOINT")
            total = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
    return {"events": int(total), "generate_s": round(time.perf_counter() - started, 1),
            "generate_peak_mb": round(peak_mb())}


def recent_rows(ws: int, add: Any, recent: dict[str, int]) -> list[str]:
    """The last days: closed occurrences of every kind (ends before NOW), and the OPEN ones
    at risk or past their limit, each of a customer of its own."""
    parts: list[str] = []
    n = recent["orders"]  # installed 1 to 30 h after an order placed 31 h to 9 days ago
    s = add(n, 2)
    when = f"(31 * 3600 + hash(i, 60) % (8 * {DAY}))"
    props = """'{"order":"r' || i || '","delivery":"express"}'"""
    parts += [
        _rows(ws, s, n, ident="'rop' || i", type_="order_placed", customer="'rc' || i",
              at=_stamp(when), props=props, step=2),
        _rows(ws, s, n, ident="'roi' || i", type_="installed", customer="'rc' || i", step=2,
              nth=1, at=_stamp(f"{when} - 3600 - hash(i, 61) % (29 * 3600)"),
              props="""'{"order":"r' || i || '"}'"""),
    ]
    for name, n, start, end in (
            ("rd", recent["delays"], "delivery_delayed", "delay_notified"),
            ("rq", recent["complaints"], "complaint", "complaint_answered")):
        s = add(n, 2)
        when = f"(2 * {DAY} + hash(i, 62) % (6 * {DAY}))"
        parts += [
            _rows(ws, s, n, ident=f"'{name}s' || i", type_=start,
                  customer=f"'{name}c' || i", at=_stamp(when), step=2),
            _rows(ws, s, n, ident=f"'{name}e' || i", type_=end, customer=f"'{name}c' || i",
                  step=2, nth=1, at=_stamp(f"{when} - hash(i, 63) % (30 * 3600)")),
        ]
    n = recent["contacts"]  # a need and its second contact a day later: broken, not open
    s = add(n, 2)
    when = f"(2 * {DAY} + hash(i, 64) % (6 * {DAY}))"
    parts += [_rows(ws, s, n, ident=f"'rs{k}' || i", type_="service_contact",
                    customer="'rsc' || i", step=2, nth=k, props="""'{"reason":"invoice"}'""",
                    at=_stamp(f"{when} - {k * DAY}")) for k in (0, 1)]
    # Open: at risk or past the limit at NOW, each with no end.
    s = add(OPEN["orders"], 1)  # 38.4 h (80 % of 48 h) to 9 days ago
    parts.append(_rows(ws, s, OPEN["orders"], ident="'xo' || i", type_="order_placed",
                       customer="'xoc' || i", at=_stamp("138240 + hash(i, 70) % 639360"),
                       props="""'{"order":"x' || i || '","delivery":"express"}'"""))
    s = add(OPEN["delays"], 1)  # 1.6 h to 7 days ago
    parts.append(_rows(ws, s, OPEN["delays"], ident="'xd' || i", type_="delivery_delayed",
                       customer="'xdc' || i", at=_stamp(f"5760 + hash(i, 71) % (7 * {DAY})")))
    s = add(OPEN["complaints"], 1)  # Wednesday 00:00 to Friday 12:00 UTC: 7 working h or more
    parts.append(_rows(ws, s, OPEN["complaints"], ident="'xq' || i", type_="complaint",
                       customer="'xqc' || i",
                       at=_stamp(f"3 * {DAY} + hash(i, 72) % ({DAY} * 5 // 2)")))
    s = add(OPEN["contacts"], 1)  # 5.7 to 6.9 days ago: the week nearly over
    parts.append(_rows(ws, s, OPEN["contacts"], ident="'xs' || i", type_="service_contact",
                       customer="'xsc' || i", props="""'{"reason":"damaged"}'""",
                       at=_stamp("492480 + hash(i, 73) % 103680")))
    return parts


# ---------------------------------------------------------------------------------- steps


def evaluate(folder: Path, threads: int) -> dict[str, Any]:
    from kokemus import bootstrap
    from kokemus.analytics.engines import DuckDBEngine
    from kokemus.analytics.promises import Scope, occurrences
    from kokemus.services import workspaces

    out: dict[str, Any] = {}
    with bootstrap.build(settings(folder)) as kk:
        kk.events.set_threads(threads)
        ws = workspaces.get(kk.db, "my-company")
        with kk.events.reading() as cursor:
            started = time.perf_counter()
            types = cursor.execute("SELECT type, count(*) FROM events WHERE workspace_id = ? "
                                   "GROUP BY type", [ws.id]).fetchall()
            out["baseline_scan_s"] = round(time.perf_counter() - started, 3)
            out["types"] = dict(sorted(types))
            started = time.perf_counter()  # the least a `within` does: one window, no logic
            cursor.execute("SELECT count(nxt) FROM (SELECT lead(occurred_at) OVER (PARTITION "
                           "BY customer ORDER BY occurred_at, seq) AS nxt FROM events WHERE "
                           "workspace_id = ? AND type IN ('order_placed', 'installed'))",
                           [ws.id]).fetchall()
            out["baseline_window_s"] = round(time.perf_counter() - started, 3)
            engine = DuckDBEngine(cursor)
            detail: dict[str, Any] = {}
            total = 0.0
            for promise, commitment in ws.document.commitments():
                assert commitment.kind != "score"
                started = time.perf_counter()
                table = occurrences(engine, Scope(ws.id, NOW), promise.id, commitment,
                                    members={}, calendar=ws.document.business_hours)
                seconds = time.perf_counter() - started
                total += seconds
                verdicts = table.group_by("verdict").aggregate([("verdict", "count")])
                detail[commitment.id] = {
                    "s": round(seconds, 2), "rows": table.num_rows,
                    "at_risk": sum(bool(x) for x in table["at_risk"].to_pylist()),
                    **dict(zip(verdicts["verdict"].to_pylist(),
                               verdicts["verdict_count"].to_pylist(), strict=True))}
                log(f"  {commitment.id}: {seconds:.2f} s, {detail[commitment.id]}")
                del table
    out["promises_s"] = round(total, 2)
    out["commitments"] = detail
    out["peak_mb"] = round(peak_mb())
    return out


def clocks(folder: Path, threads: int) -> dict[str, Any]:
    # As in the server, where the worker runs: the store open, and the libraries loaded on
    # first use loaded (pyarrow loads pandas when it first converts Python values; a
    # calendar loads holidays), about 0.4 s once per process, not per pass.
    from datetime import timedelta

    import holidays  # noqa: F401
    import pandas  # noqa: F401

    from kokemus import bootstrap
    from kokemus.engine.clocks import advance

    with bootstrap.build(settings(folder)) as kk:
        kk.events.set_threads(threads)
        kk.events.count(1)
        started = time.perf_counter()
        first = advance(kk, NOW)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        again = advance(kk, NOW + timedelta(minutes=1))
        again_s = time.perf_counter() - started
    return {"clocks_10k_s": round(seconds, 3), "clocks_again_s": round(again_s, 3),
            "marked_at_risk": first.at_risk, "marked_breached": first.breached,
            "marked_again": again.at_risk + again.breached, "seen_again": again.again,
            "clocks_peak_mb": round(peak_mb())}


def measure(step: str, folder: Path, threads: int, events: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", step, "--dir", str(folder),
               "--threads", str(threads), "--events", str(events)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"step {step} failed")
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--dir", type=Path, help="folder for the store (kept if given)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # a child measuring one step
        step = {"generate": lambda: generate(args.dir, args.events),
                "evaluate": lambda: evaluate(args.dir, args.threads),
                "clocks": lambda: clocks(args.dir, args.threads)}[args.step]
        print(orjson.dumps(step()).decode())
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="kokemus-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log(f"store in {folder}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    log(f"generating {args.events:,} events")
    made = measure("generate", folder, args.threads, args.events)
    log(f"  {made}")
    log("judging the five commitments over the whole store")
    judged = measure("evaluate", folder, args.threads, args.events)
    log(f"  scan {judged['baseline_scan_s']} s, window {judged['baseline_window_s']} s; "
        f"promises {judged['promises_s']} s; "
        f"peak {judged['peak_mb']} MB")
    log("advancing the clocks")
    clocked = measure("clocks", folder, args.threads, args.events)
    log(f"  {clocked}")
    if args.dir is None:
        shutil.rmtree(folder, ignore_errors=True)
    marked = clocked["marked_at_risk"] + clocked["marked_breached"]
    summary = {
        "events": made["events"],
        "promises_s": judged["promises_s"],
        "peak_mb": max(judged["peak_mb"], clocked["clocks_peak_mb"]),
        "clocks_10k_s": clocked["clocks_10k_s"],
        "baseline_scan_s": judged["baseline_scan_s"],
        "baseline_window_s": judged["baseline_window_s"],
        "promises_to_scan": round(judged["promises_s"] / judged["baseline_scan_s"], 1),
        "promises_to_window": round(judged["promises_s"] / judged["baseline_window_s"], 1),
        "clocks_marked": marked,
        "clocks_again_s": clocked["clocks_again_s"],
        "clocks_marked_again": clocked["marked_again"],
        "commitments": judged["commitments"],
        "generate_s": made["generate_s"],
        "threads": args.threads,
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(orjson.dumps(summary).decode())


if __name__ == "__main__":
    main()
