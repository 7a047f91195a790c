"""Engine benchmark (issue 12): the rule engine deciding with 100 active rules, and (parts
others add) the outbox delivering. Progress goes to stderr; the last stdout line is one
JSON object with every part's figures.

    python bench/engine.py                       # every part
    python bench/engine.py --part rules          # one part (repeat --part for several)
    python bench/engine.py --part rules --events 400000 --seconds 10

A part is a function `part_<name>(args, folder) -> dict` in PARTS: it gets a fresh folder
of its own and returns its figures, which go into the last line's object as they are.

Part `rules` (engine/rules.py), on a fresh data folder (SQLite app store, DuckDB events):

- The workspace: the starter's, with 100 enabled rules: 90 event rules over 20 event types
  (`t00`..`t19`), each with one condition on the JSON properties of a different operator
  (eq on a string, gte, a boolean, in, not_in, lt on a float, exists; every 10th also a
  segment, every 15th a consent), 4 promise rules (at risk / breached, some narrowed to a
  commitment), 4 answer rules (NPS and CES bounds, a theme), 1 score crossing and 1
  schedule. 10,000 customers, half in the rules' segment, a tenth with marketing consent.
- The traffic: 10 % of the events are of the rules' 20 types with random properties, 1 %
  promise marks, the rest of 10 types no rule reads (page views and the like), so about
  one event in 25 fires a rule, with 1.3 actions each (what a busy shop's outbox sees).
- `events_per_s`: a backlog of `--events` events (occurred in the last hour) decided from
  an empty cursor by `rules.run_workspace`, one pass of the engine (match in DuckDB,
  targeting, the outbox rows and the cursor committed): events / seconds of that run.
- The floor, measured on the same events in the same run: `floor_events_per_s` is a plain
  DuckDB scan that reads every property of every event once (`SELECT count(*),
  sum(length(properties)) ... WHERE seq > 0`); `ratio_to_floor` is the engine's time over
  the floor's.
- `event_to_outbox_p50_ms` / `_p99_ms`: under load. A producer thread appends the events
  at `--rate` (20,000/s) in batches of `--rate` / 100 every 10 ms for `--seconds`, while
  the engine runs `run_workspace` back to back in another thread (the worker's step with
  no interval between runs). An event's latency: from just before its batch's append to
  the end of the engine run whose transaction wrote its actions (the run's whole return,
  an upper bound on the commit); `stored_to_outbox_p99_ms` from the append's return
  instead (the event stored and visible), `append_p99_ms` the appends themselves (the
  ingest path's share). `load_events_per_s` is what the producer achieved;
  `lag_events` the events left after the cursor when the producer stopped; `run_p50_ms`,
  `run_max_ms` and `run_events_p50` the engine's runs under the load.
- `load_average_before` / `_after`: the machine's one-minute load average around the run
  (other processes on the same cores change every figure here).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

RULE_TYPES = [f"t{i:02d}" for i in range(20)]
NOISE_TYPES = ["page_viewed", "search", "cart_viewed", "email_opened", "login", "logout",
               "app_opened", "review_read", "price_checked", "stock_checked"]
CARRIERS = ["Kiito", "Rahtisiili", "Posti", "Matkahuolto"]
CUSTOMERS = 10_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def settings(folder: Path) -> Any:
    from kokemus.config import Settings

    return Settings(data_dir=folder / "data", secret_key="bench-secret",
                    webhook_networks="127.0.0.0/8")  # the receiver listens on loopback


# ------------------------------------------------------------------------------- rules


def rules_yaml() -> str:
    """100 rules (see the module's text)."""
    conditions = [
        "{carrier: Kiito}",
        "{weight: {gte: 90}}",
        "{damaged: true}",
        "{carrier: {in: [Rahtisiili, Matkahuolto]}, weight: {lt: 20}}",
        "{carrier: {not_in: [Kiito, Posti, Rahtisiili]}}",
        "{amount: {lt: 5.5}}",
        "{code: {exists: true}, damaged: false}",
        "{weight: {gt: 40, lte: 45}}",
        "{carrier: Posti, damaged: true}",
    ]
    out = ["rules:"]

    def add(ident: str, when: str, actions: list[str]) -> None:
        out.append(f"  - id: {ident}\n    name: {ident}\n    when: {when}\n    actions:")
        out.extend(f"      - {a}" for a in actions)

    case = "{do: case, department: logistics, title: {fi: Tarkista, en: Check}}"
    email = "{do: email, subject: Hei, body: 'Hei {{ customer.name }}', delay: 10min}"
    for i in range(90):
        extra = ""
        if i % 10 == 0:
            extra += ", segments: [households]"
        if i % 15 == 0:
            extra += ", consent: marketing"
        where = conditions[i % len(conditions)]
        add(f"event-{i:02d}", f"{{on: event, event: {RULE_TYPES[i % 20]}, where: {where}"
            f"{extra}}}", [case] if i % 3 else [case, email])
    add("breached", "{on: promise, state: breached}", [case])
    add("at-risk", "{on: promise, state: at_risk}", [email])
    add("breached-48h", "{on: promise, state: breached, "
                        "commitments: [fast-delivery.delivered-48h]}", [case, email])
    add("at-risk-48h", "{on: promise, state: at_risk, "
                       "commitments: [fast-delivery.delivered-48h]}", [case])
    add("detractor", "{on: answer, nps: {lte: 6}}", [case])
    add("hard", "{on: answer, ces: {lte: 3}}", [case])
    add("delivery-talk", "{on: answer, theme: delivery}", [case])
    add("angry", "{on: answer, nps: {lte: 3}, theme: delivery}", [email])
    add("nps-low", "{on: score, score: nps, touchpoint: delivery, below: -50}", [case])
    add("daily", "{on: schedule, cron: '0 8 * * *'}",
        ["{do: webhook, url: 'https://hooks.example.com/daily', secret_env: DAILY_SECRET}"])
    return "\n".join(out) + "\n"


THEMES = """insights:
  themes:
    - id: delivery
      name: {fi: Toimitus, en: Delivery}
      lemmas: {fi: [toimitus, kuljetus], en: [delivery]}
"""


def prepare(folder: Path) -> tuple[Any, Any]:
    """The stores with the workspace, its customers and consents."""
    from kokemus import bootstrap
    from kokemus.domain.events import Customer
    from kokemus.services import workspaces
    from kokemus.storage import people
    from kokemus.storage.tables import consents
    from kokemus.workspace import document

    kk = bootstrap.build(settings(folder))
    starter = (Path(document.__file__).parent / "starter.yaml").read_text(encoding="utf-8")
    path = folder / "workspace.yaml"
    path.write_text(starter + THEMES + rules_yaml(), encoding="utf-8")
    workspaces.apply(kk.db, document.load(path))
    ws = workspaces.get(kk.db, "my-company")
    assert sum(r.enabled for r in ws.document.rules) == 100
    now = datetime.now(UTC)
    people.upsert_customers(kk.db, ws.id, [
        Customer(id=f"c{i}", segments=["households"] if i % 2 else [])
        for i in range(CUSTOMERS)], now)
    with kk.db.begin() as conn:
        conn.execute(consents.insert(), [
            {"workspace_id": ws.id, "customer": f"c{i}", "purpose": "marketing",
             "granted": True, "at": now, "channel": "web", "text_version": "1",
             "source": "bench"} for i in range(0, CUSTOMERS, 10)])
    return kk, ws


def events(workspace_id: int, n: int, prefix: str, at: Callable[[int], datetime],
           seed: int) -> Any:
    """`n` events (see the module's traffic) as an Arrow table in the event store's SCHEMA."""
    import pyarrow as pa

    from kokemus.storage.events import SCHEMA

    draw = random.Random(seed)
    rows: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for i in range(n):
        u = draw.random()
        customer = f"c{draw.randrange(CUSTOMERS)}"
        properties: dict[str, Any]
        if u < 0.10:
            kind = RULE_TYPES[draw.randrange(20)]
            properties = {"carrier": draw.choice(CARRIERS), "weight": draw.randrange(100),
                          "damaged": draw.random() < 0.1, "amount": draw.random() * 100}
            if draw.random() < 0.3:
                properties["code"] = f"x{draw.randrange(1000)}"
        elif u < 0.11:
            kind = "promise_breached" if draw.random() < 0.5 else "promise_at_risk"
            commitment = "delivered-48h" if draw.random() < 0.5 else "other"
            properties = {"promise": "fast-delivery", "commitment": commitment,
                          "occurrence": f"{prefix}o{i}", "limit_s": 172800, "used_s": 1}
        else:
            kind = draw.choice(NOISE_TYPES)
            properties = {"page": f"/p/{draw.randrange(500)}", "ms": draw.randrange(3000)}
        row = (workspace_id, f"{prefix}{i}", kind, customer, None, "web", None, at(i),
               orjson.dumps(properties).decode())
        for name, value in zip(SCHEMA.names, row, strict=True):
            rows[name].append(value)
    return pa.table(rows, schema=SCHEMA)


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def _outbox_rows(kk: Any) -> int:
    from sqlalchemy import func, select

    from kokemus.storage.tables import actions

    with kk.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(actions)).scalar_one())


def part_rules(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from sqlalchemy import select

    from kokemus.engine import rules
    from kokemus.storage.tables import actions

    kk, ws = prepare(folder)
    try:
        kk.events.set_threads(args.threads)
        # ---- throughput over a backlog, and its floor
        start = datetime.now(UTC) - timedelta(hours=1)
        n = args.events
        log(f"rules: generating {n:,} events")
        backlog = events(ws.id, n, "b", lambda i: start + timedelta(microseconds=i * 1000),
                         seed=1)
        kk.events.append(backlog)
        with kk.events.reading() as cur:  # the floor: every event's properties read once
            cur.execute("SELECT count(*), sum(length(properties)) FROM events "
                        "WHERE workspace_id = ? AND seq > 0", [ws.id]).fetchall()  # warm
            began = time.perf_counter()
            cur.execute("SELECT count(*), sum(length(properties)) FROM events "
                        "WHERE workspace_id = ? AND seq > 0", [ws.id]).fetchall()
            floor_s = time.perf_counter() - began
        log(f"rules: floor scan {floor_s * 1000:.1f} ms")
        began = time.perf_counter()
        decided = rules.run_workspace(kk, ws, datetime.now(UTC))
        engine_s = time.perf_counter() - began
        assert decided.events == n, decided
        log(f"rules: {n:,} events decided in {engine_s:.2f} s: {decided.fired:,} causes, "
            f"{decided.planned:,} actions")
        figures: dict[str, Any] = {
            "rules": sum(r.enabled for r in ws.document.rules),
            "events_per_s": round(n / engine_s),
            "floor_events_per_s": round(n / floor_s),
            "ratio_to_floor": round(engine_s / floor_s, 1),
            "backlog_events": n, "backlog_causes": decided.fired,
            "backlog_actions": decided.planned,
        }
        # ---- latency under load
        rate, seconds = args.rate, args.seconds
        per_batch = max(1, rate // 100)
        batches = int(seconds * 100)
        log(f"rules: load {rate:,} events/s for {seconds:g} s ({batches} batches)")
        prepared = [events(ws.id, per_batch, f"l{b}-", lambda i: datetime.now(UTC), seed=b)
                    for b in range(batches)]
        appended: dict[int, float] = {}  # before each batch's append
        stored: dict[int, float] = {}  # after it returned: stored, visible to the engine
        runs: dict[datetime, float] = {}
        stop = threading.Event()

        def produce() -> None:
            t0 = time.perf_counter()
            for b, table in enumerate(prepared):
                wait = t0 + b / 100 - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                appended[b] = time.perf_counter()
                kk.events.append(table)
                stored[b] = time.perf_counter()
            stop.set()

        durations: list[tuple[float, int]] = []

        def decide() -> None:
            while True:
                last = stop.is_set()
                now = datetime.now(UTC)
                t = time.perf_counter()
                decided = rules.run_workspace(kk, ws, now)
                runs[now] = time.perf_counter()
                durations.append(((runs[now] - t) * 1000, decided.events))
                if last:
                    return

        producer = threading.Thread(target=produce)
        engine = threading.Thread(target=decide)
        began = time.perf_counter()
        producer.start()
        engine.start()
        producer.join()
        produced_s = time.perf_counter() - began
        with kk.events.reading() as cur:
            top = cur.execute("SELECT max(seq) FROM events").fetchone()[0]
        lag = top - rules.position(kk.db, ws.id, rules.EVENTS)
        engine.join()
        with kk.db.connect() as conn:
            written = conn.execute(select(actions.c.cause, actions.c.created_at).where(
                actions.c.cause.like("l%"))).all()
        latencies, after_store = [], []
        for cause, created in {(c, t) for c, t in written}:
            batch = int(cause[1:cause.index("-")])
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
            latencies.append((runs[created] - appended[batch]) * 1000)
            after_store.append((runs[created] - stored[batch]) * 1000)
        latencies.sort()
        after_store.sort()
        figures.update({
            "event_to_outbox_p50_ms": round(statistics.median(latencies), 1),
            "event_to_outbox_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
            "event_to_outbox_max_ms": round(latencies[-1], 1),
            "stored_to_outbox_p99_ms": round(after_store[int(len(after_store) * 0.99) - 1], 1),
            "append_p99_ms": round(_p99([(stored[b] - appended[b]) * 1000 for b in stored]),
                                   1),
            "load_offered_per_s": rate,
            "load_events_per_s": round(batches * per_batch / produced_s),
            "load_causes": len(latencies), "load_runs": len(runs), "lag_events": lag,
            "run_p50_ms": round(statistics.median(d for d, _ in durations), 1),
            "run_max_ms": round(max(d for d, _ in durations), 1),
            "run_events_p50": round(statistics.median(n for _, n in durations)),
            "outbox_rows": _outbox_rows(kk),
        })
        log(f"rules: p50 {figures['event_to_outbox_p50_ms']} ms, p99 "
            f"{figures['event_to_outbox_p99_ms']} ms over {len(latencies):,} causes in "
            f"{len(runs)} runs")
        return figures
    finally:
        kk.close()


def part_delivery(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Part `delivery`: the outbox to a loopback SMTP server and webhook receiver
    (bench/engine_delivery.py, which says how it measures)."""
    from engine_delivery import part_delivery as run  # bench/ is the script's folder

    return run(args, folder)


PARTS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {
    "rules": part_rules,
    "delivery": part_delivery,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", action="append", choices=sorted(PARTS),
                        help="Run only these parts [default: every part].")
    parser.add_argument("--events", type=int, default=400_000,
                        help="rules: events in the backlog decided at once.")
    parser.add_argument("--rate", type=int, default=20_000,
                        help="rules: events per second under load.")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="rules: how long the load lasts.")
    from engine_delivery import add_arguments  # --emails, --webhooks

    add_arguments(parser)
    parser.add_argument("--threads", type=int, default=1,
                        help="DuckDB threads (the server gives it all cores but one).")
    args = parser.parse_args()
    result: dict[str, Any] = {"load_average_before": round(os.getloadavg()[0], 2)}
    for name in args.part or list(PARTS):
        folder = Path(tempfile.mkdtemp(prefix=f"kokemus-bench-{name}-"))
        try:
            result.update(PARTS[name](args, folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    result["load_average_after"] = round(os.getloadavg()[0], 2)  # other processes' share
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
