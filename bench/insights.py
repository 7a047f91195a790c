"""Insight benchmark: the full report (`kokemus report`: promises, gaps, drivers, value,
outcomes, silent moments, comments, signals, drop-off and the worst groups) over 1 million
survey responses and 10 million events. Progress goes to stderr; the last stdout line is one
JSON object with the figures.

    python bench/insights.py                                  # 1M responses, 10M events
    python bench/insights.py --responses 100000 --events 1000000

The store: a fresh data folder (`bootstrap.build`), the appliance shop's workspace
(kokemus/demo/appliance_shop.yaml) applied, and its history made by the demo's own
generator (kokemus/demo/appliance_shop.py), so the data has the demo's shape and planted
truths: every customer orders once (the demo's order, payment, shipping, delays told or
not, Kiito's damages, the refused cancellations, installations, service contacts), the
better it went the likelier an accessory order later; the surveys are triggered by the
workspace's own rules (the delay, the 50 % sample of the quality survey, the 14-day cap,
quiet hours) and answered from the journey's latent scores (NPS, CES, CSAT, the touchpoint
ratings, the elements of value, RATER expectation and perception, Finnish, English and
Swedish comments from detractors and promoters). Two changes to reach the sizes: customers
answer twice as often as the demo's (its rates by outcome doubled, at most 1), and
`product_viewed` events (with the product) fill the store up to `--events` (the demo's
browsing funnel would need 70 events per response). Customers go to the app store with
their language and segment (households or families), as the demo writes them; invitations
do not (nothing in the report reads them).

Steps, each in a fresh process (its peak RSS is its own):

- `generate`: the store as above in blocks of customers (timed, not a target).
- `report`: two floors first, a plain `SELECT touchpoint, count(*), avg(nps) FROM responses
  GROUP BY touchpoint` (`baseline_responses_s`) and a scan of the events (`SELECT type,
  count(*) FROM events GROUP BY type`, `baseline_events_s`); then
  `services.report.build(kk, ws, as_of=...)` as `kokemus report` calls it (`report_s`), with
  the seconds of each section (`s_<section>`) and `setup_s` (the promises' occurrences
  judged once before the sections). `peak_mb` is the step's peak RSS (VmHWM) and
  `sampled_mb` the largest RSS a thread saw every 50 ms.

The report runs twice: without a memory limit (DuckDB's default, 80 % of the machine:
`default_report_s`, `default_peak_mb`), then with `KOKEMUS_EVENTS_MEMORY_LIMIT`
(`--events-memory-limit`, default 2GB: `report_s`, `peak_mb`, the sections).

Targets on 2 cores: report_s < 15, peak_mb < 3,000.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import orjson

END = date(2026, 6, 1)  # the history's last day is the day before; the report is as of END
DAYS = 365
BLOCK = 100_000  # customers generated (and written) at a time
RATE_FACTOR = 2.0  # the demo's response rates, doubled


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def vm(field: str) -> float:
    """A /proc/self/status figure (VmHWM, VmRSS) in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler:
    """The largest RSS seen every `every` seconds, in a daemon thread."""

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.largest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.largest = max(self.largest, vm("VmRSS"))
            self._stop.wait(self.every)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.largest = max(self.largest, vm("VmRSS"))


def settings(folder: Path) -> Any:
    from kokemus.config import Settings

    return Settings(data_dir=folder / "data", secret_key="bench-secret")


# ---------------------------------------------------------------------------------- data


def make_block(rng: np.random.Generator, period: Any, workspace: Any, first: int, size: int,
               events_per_response: float) -> tuple[Any, Any, list[Any], list[Any]]:
    """One block of customers as the demo makes them, each ordering once (see the module's
    docstring): its timeline, customer ids, customers and survey answers."""
    from kokemus.demo import appliance_shop as shop
    from kokemus.demo import feedback
    from kokemus.demo.timeline import EVENING, Labels, Timeline, numbered, pick, properties

    tl = Timeline(period)
    ids = numbered(f"{shop.SLUG}-", first, size, width=7)
    buyers = np.arange(size)
    order_at = period.starts(rng, size, EVENING, within=(0.0, 0.97))
    channel = Labels(("web", "mobile", "phone"), rng.choice(3, size, p=[0.67, 0.29, 0.04]))
    express = rng.random(size) < 0.4
    installation = express | (rng.random(size) < 0.55)
    feel = rng.spawn(1)[0]
    mood = feel.standard_normal(size)
    product = pick(rng, shop.PRODUCTS, shop.PRODUCT_SHARE, size)
    triggered, experience = shop._order(tl, rng, buyers, order_at, product, express,
                                        installation, channel, shop._orders(ids, buyers, "o1"),
                                        mood, feel)
    # The demo's repurchase: an accessory order 10-60 days later, likelier after a good one.
    cut = NormalDist().inv_cdf(1 - shop.REPURCHASE)
    rest = math.sqrt(1 - shop.REPURCHASE_LOADING**2)
    chance = shop._normal_cdf((shop.REPURCHASE_LOADING * experience - cut) / rest)
    again = np.flatnonzero(rng.random(size) < chance)
    m = len(again)
    again_at = period.daytime(rng, order_at[again] + rng.integers(10 * 86400, 60 * 86400, m),
                              7, 23)
    triggered += shop._order(tl, rng, buyers[again], again_at,
                             pick(rng, shop.ACCESSORIES, (1, 1, 1), m), np.zeros(m, bool),
                             np.zeros(m, bool), Labels(("web",), np.zeros(m, np.int64)),
                             shop._orders(ids, buyers[again], "o2"), mood, feel)[0]
    triggered = [dataclasses.replace(t, answering=dataclasses.replace(
        t.answering, rate={k: min(1.0, RATE_FACTOR * v) for k, v in t.answering.rate.items()}))
        for t in triggered]
    surveyed = feedback.invite(rng, period, workspace, triggered)
    feedback.feedback_events(tl, surveyed, "email")
    answered = sum(len(a.respondents) for a in surveyed)
    made = sum(len(s.who) for s in tl._steps)
    views = max(int(events_per_response * answered) - made, 0)
    who = np.sort(rng.integers(0, size, views))
    tl.add("product_viewed", who, order_at[who] - rng.integers(60, 14 * 86400, views),
           pick(rng, ("web", "mobile"), (0.7, 0.3), views),
           props=properties(product=pick(rng, shop.PRODUCTS, shop.PRODUCT_SHARE, views)))
    return tl, ids, shop._customers(rng, ids, size), surveyed


def generate(folder: Path, target_responses: int, target_events: int) -> dict[str, Any]:
    from kokemus import bootstrap
    from kokemus.demo import appliance_shop as shop
    from kokemus.demo import feedback
    from kokemus.demo.timeline import Period
    from kokemus.engine.worker import order_journeys
    from kokemus.services import workspaces
    from kokemus.storage import people, responses
    from kokemus.workspace import document

    started = time.perf_counter()
    period = Period.ending(END, DAYS)
    per_response = target_events / target_responses
    now = datetime.now(UTC)
    totals = {"customers": 0, "events": 0, "responses": 0, "comments": 0}
    with bootstrap.build(settings(folder)) as kk:
        workspaces.apply(kk.db, document.load(shop.WORKSPACE_FILE), source="bench")
        ws = workspaces.get(kk.db, shop.SLUG)
        per_customer = 1.0  # responses per customer, learnt from the blocks made
        number = 0
        while totals["responses"] < target_responses:
            left = target_responses - totals["responses"]
            size = max(min(BLOCK, math.ceil(left / per_customer * 1.01)), 100)
            rng = np.random.default_rng([7, number])
            tl, ids, customers, surveyed = make_block(rng, period, ws.document,
                                                      totals["customers"], size, per_response)
            table = tl.table(ws.id, ids, None, ws.touchpoint_for_event)
            _, answers = feedback.records(surveyed, tl, table, ws.id, ws.document, customers,
                                          now)
            if answers.num_rows > left:  # the last block: exactly the responses asked for
                answers = answers.slice(0, left)
            kk.events.append(table)
            responses.insert_many(kk.events, answers)
            people.upsert_customers(kk.db, ws.id, customers, now)
            totals["customers"] += size
            totals["events"] += table.num_rows
            totals["responses"] += answers.num_rows
            totals["comments"] += answers.num_rows - answers.column("comment").null_count
            per_customer = totals["responses"] / totals["customers"]
            number += 1
            log(f"generate: block {number}: {totals['customers']:,} customers, "
                f"{totals['events']:,} events, {totals['responses']:,} responses "
                f"({time.perf_counter() - started:.0f} s)")
        with kk.events.writing() as con:
            con.execute("CHECKPOINT")
        order_journeys(kk)  # the journeys' ordered copy, as `kokemus demo` leaves it
    return {**totals, "generate_s": round(time.perf_counter() - started, 1),
            "generate_peak_mb": round(vm("VmHWM"))}


# ---------------------------------------------------------------------------------- steps


def report(folder: Path) -> dict[str, Any]:
    from kokemus import bootstrap
    from kokemus.demo import appliance_shop as shop
    from kokemus.services import report as reports
    from kokemus.services import workspaces

    out: dict[str, Any] = {}
    as_of = datetime(END.year, END.month, END.day, tzinfo=UTC)
    with Sampler() as sampler, bootstrap.build(settings(folder)) as kk:
        ws = workspaces.get(kk.db, shop.SLUG)
        with kk.events.reading() as cursor:
            out["responses"] = cursor.execute("SELECT count(*) FROM responses").fetchone()[0]
            out["events"] = cursor.execute("SELECT count(*) FROM events").fetchone()[0]
            began = time.perf_counter()
            by_touchpoint = cursor.execute(
                "SELECT touchpoint, count(*), avg(nps) FROM responses WHERE workspace_id = ? "
                "GROUP BY touchpoint", [ws.id]).fetchall()
            out["baseline_responses_s"] = round(time.perf_counter() - began, 3)
            began = time.perf_counter()
            types = cursor.execute("SELECT type, count(*) FROM events WHERE workspace_id = ? "
                                   "GROUP BY type", [ws.id]).fetchall()
            out["baseline_events_s"] = round(time.perf_counter() - began, 3)
        log(f"report: floors {out['baseline_responses_s']} s (responses by touchpoint: "
            f"{len(by_touchpoint)} groups), {out['baseline_events_s']} s (events by type: "
            f"{len(types)} types)")
        began = time.perf_counter()
        found = reports.build(kk, ws, as_of=as_of,
                              progress=lambda name: log(f"report: {name}"))
        out["report_s"] = round(time.perf_counter() - began, 2)
    out["peak_mb"] = round(vm("VmHWM"))
    out["sampled_mb"] = round(sampler.largest)
    out["setup_s"] = round(out["report_s"] - sum(found.seconds.values()), 2)
    out.update({f"s_{name}": seconds for name, seconds in found.seconds.items()})
    out["missing"] = found.missing
    out["fixes"] = [f.what for f in found.fixes]
    comments = found.sections.get("comments") or {}
    out["comments"] = comments.get("comments")
    log(f"report: {out['report_s']} s, peak {out['peak_mb']} MB; sections "
        + ", ".join(f"{k} {v}" for k, v in found.seconds.items())
        + f"; missing {found.missing or 'none'}; fixes {out['fixes']}")
    return out


def lemmas(languages: tuple[str, ...] = ("fi", "en", "sv")) -> dict[str, Any]:
    """The lemma cache (kokemus.domain.lemmas) built from simplemma's data, timed."""
    from kokemus.domain import lemmas as cached

    began = time.perf_counter()
    for lang in languages:
        cached.dictionary(lang)
    return {"lemma_cache_build_s": round(time.perf_counter() - began, 2),
            "lemma_cache_build_peak_mb": round(vm("VmHWM"))}


def step(name: str, folder: Path, *args: str, memory_limit: str | None = None
         ) -> dict[str, Any]:
    """Run `name` in a fresh process (the lemma cache in the store's folder, the event
    store's memory limit as given); its JSON line."""
    env = {**os.environ, "KOKEMUS_CACHE_DIR": str(folder / "cache")}
    env.pop("KOKEMUS_EVENTS_MEMORY_LIMIT", None)
    if memory_limit:
        env["KOKEMUS_EVENTS_MEMORY_LIMIT"] = memory_limit
    done = subprocess.run([sys.executable, __file__, "--step", name, "--folder", str(folder),
                           *args], stdout=subprocess.PIPE, check=True, env=env)
    return orjson.loads(done.stdout.decode().strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--step", choices=["generate", "lemmas", "report"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help="Keep the store here (default: a "
                        "temporary folder, removed at the end).")
    parser.add_argument("--events-memory-limit", default="2GB", help=(
        "The report's KOKEMUS_EVENTS_MEMORY_LIMIT (default 2GB; 'none': DuckDB's own, 80%% "
        "of the machine). The report is also run once without it, as `default_*` keys."))
    args = parser.parse_args()
    if args.step == "generate":
        print(orjson.dumps(generate(args.folder, args.responses, args.events)).decode())
        return
    if args.step == "lemmas":
        print(orjson.dumps(lemmas()).decode())
        return
    if args.step == "report":
        print(orjson.dumps(report(args.folder)).decode())
        return
    keep = args.folder is not None
    folder = args.folder or Path(tempfile.mkdtemp(prefix="kokemus-insights-bench-"))
    result: dict[str, Any] = {}
    try:
        if not (folder / "data" / "events.duckdb").exists():
            log(f"generate: {args.responses:,} responses, {args.events:,} events in {folder}")
            made = step("generate", folder, "--responses", str(args.responses),
                        "--events", str(args.events))
            result.update({k: made[k] for k in ("generate_s", "generate_peak_mb", "customers")})
        shutil.rmtree(folder / "cache", ignore_errors=True)
        log("lemmas: simplemma's dictionaries decoded into a fresh lemma cache")
        result.update(step("lemmas", folder))
        log(f"lemmas: {result['lemma_cache_build_s']} s")
        limit = None if args.events_memory_limit.lower() == "none" else args.events_memory_limit
        if limit is not None:
            log("report: without a memory limit first (DuckDB's default)")
            unlimited = step("report", folder)
            result.update({f"default_{k}": unlimited[k] for k in ("report_s", "peak_mb")})
        log(f"report: KOKEMUS_EVENTS_MEMORY_LIMIT={limit or 'unset'}")
        result["events_memory_limit"] = limit
        result.update(step("report", folder, memory_limit=limit))
        result["cpus"] = os.cpu_count()
        result["load_average"] = round(os.getloadavg()[0], 2)
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
