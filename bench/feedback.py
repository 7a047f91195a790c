"""Feedback benchmark: score queries over a million responses, and the hosted survey form
under a steady load. Progress goes to stderr; the last stdout line is one JSON object.

    python bench/feedback.py                  # 1M responses; 200 form posts/s for 20 s
    python bench/feedback.py --responses 200000 --rate 100 --seconds 5   # quicker

scores_1m_s: 1,000,000 generated responses (20 touchpoints with skewed traffic and their
own score levels, 5 channels, 6 segments (0-2 per response), 2,000 B2B accounts with 4
roles on a third of the responses, 3 surveys, 2 years, some answers left out) inserted into
a fresh event store with storage.responses.insert_many; then the full breakdown the UI and
the API use: kokemus.analytics.scores.report with every breakdown (touchpoint, channel,
segment, account, role, survey) and the weekly and monthly trends. The figure is the median
of 5 runs (the first, cold run is reported too). For comparison, the overall score alone
(one query), one breakdown (by touchpoint) in DuckDB, and the same breakdown's counts by
pandas over the columns already in memory (loading them not counted), checked equal.

submit_p99_ms, submit_rps: `kokemus serve` as a subprocess on a free loopback port with a
temporary data dir (KOKEMUS_FORM_RATE_LIMIT=0, KOKEMUS_WORKER=false); before it starts, the
starter workspace, customers and one invitation per request are made directly against the
same stores (DuckDB allows one process); each form has been opened, and every other one
holds a one-click answer from the email, so a submission reads and merges the saved
response as it does in life. The client posts the hosted form `POST /s/{token}`
(form-encoded answers, each request a new invitation, all complete) open loop at `--rate`:
request i is due at start + i/rate and its latency counts from that time, so a slow server
cannot hide behind a waiting client. One asyncio thread drives 16 keep-alive connections,
so the client takes little CPU from the server. The first second warms up and is not
counted. Afterwards the stores are opened again and every posted response is checked.

submit_capacity_rps, floor_rps, submit_to_floor: the same server and client, searched over
offered rates (bench/loadgen.py `capacity`: doubling, then halving the interval; each step
--step-seconds after half a second not counted, each post a new invitation) for the highest
rate held with p99 under 50 ms and no error; and the floor, bench/floor.py's minimal FastAPI
route reading a small form, served by uvicorn as `kokemus serve` serves, searched the same
way in the same run. Absolute rates differ 2.5x between hosts; the ratio is the figure.

After the posts the stores are opened again: every post answered 200 (at the fixed rate and
in the search) holds exactly one complete response and an answered invitation, and nothing
else is complete.

Targets: scores_1m_s < 1; submit_p99_ms < 50 at 200 requests/s; submit_to_floor >= 0.15.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from loadgen import HOST, Server, capacity, floor_capacity, log, percentile, run, searched
from sqlalchemy import func, insert, select

from kokemus import bootstrap
from kokemus.analytics import scores
from kokemus.config import Settings
from kokemus.domain.events import Customer
from kokemus.services import feedback
from kokemus.services import workspaces as workspace_service
from kokemus.storage import people, responses
from kokemus.storage.tables import invitations
from kokemus.workspace import document

STARTER = Path(document.__file__).parent / "starter.yaml"
SECRET = "bench-secret-key-bench-secret-key"
START = datetime(2024, 11, 1, tzinfo=UTC)
MIN_N = 30


# ---------------------------------------------------------------------------- responses


def generate(n: int, seed: int = 4) -> pa.Table:
    """`n` responses in the storage's Arrow schema (see the module text for the spread)."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 21)
    touchpoint = rng.choice(20, n, p=weights / weights.sum())
    channel = rng.choice(5, n, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    # each touchpoint has its own level: a shift of the 0-10 answer
    shift = np.linspace(-1.5, 1.0, 20)[touchpoint]
    nps = np.clip(np.round(rng.normal(8.4 + shift, 2.0)), 0, 10).astype(np.int8)
    ces = np.clip(np.round(rng.normal(5.0 + shift / 2, 1.4)), 1, 7).astype(np.int8)
    csat = np.clip(np.round(rng.normal(3.9 + shift / 3, 0.9)), 1, 5).astype(np.int8)
    seconds = rng.integers(0, 2 * 365 * 86400, n)
    started = (np.datetime64(START.replace(tzinfo=None), "us")
               + seconds.astype("timedelta64[s]").astype("timedelta64[us]"))
    b2b = rng.random(n) < 1 / 3
    account = np.where(b2b, rng.integers(0, 2000, n), -1)
    role = np.where(b2b, rng.choice(4, n, p=[0.2, 0.2, 0.5, 0.1]), -1)
    # 0, 1 or 2 segments of 6 per response
    sizes = rng.choice(3, n, p=[0.2, 0.5, 0.3])
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    first = rng.integers(0, 6, n)
    second = (first + rng.integers(1, 6, n)) % 6
    members = np.empty(int(offsets[-1]), dtype=np.int64)
    one, two = sizes >= 1, sizes == 2
    members[offsets[:-1][one]] = first[one]
    members[offsets[:-1][two] + 1] = second[two]
    segment_names = pa.array([f"segment-{i}" for i in range(6)])

    def names(prefix: str, codes: np.ndarray, count: int) -> pa.Array:
        labels = pa.array([f"{prefix}-{i}" for i in range(count)])
        return labels.take(pa.array(codes, mask=codes < 0))

    def some(values: np.ndarray, answered: float) -> pa.Array:
        return pa.array(values, mask=rng.random(n) >= answered)

    ids = pa.array(np.char.add("r", np.arange(n).astype(str)))
    return pa.table({
        "workspace_id": pa.array(np.ones(n, dtype=np.int32)),
        "id": ids,
        "survey": names("survey", rng.choice(3, n, p=[0.6, 0.3, 0.1]), 3),
        "invitation": pa.nulls(n, pa.string()),
        "customer": names("customer", rng.integers(0, 300_000, n), 300_000),
        "account": names("account", account, 2000),
        "role": pa.array(np.array(["decider", "influencer", "user", "buyer"])[role],
                         mask=role < 0),
        "segments": pa.ListArray.from_arrays(pa.array(offsets),
                                             segment_names.take(pa.array(members))),
        "touchpoint": names("touchpoint", touchpoint, 20),
        "channel": pa.array(np.array(["email", "web", "phone", "chat", "store"])[channel]),
        "source": pa.array(np.full(n, "form")),
        "language": pa.array(np.where(rng.random(n) < 0.7, "fi", "en")),
        "event_id": pa.nulls(n, pa.string()),
        "answers": pa.array(np.full(n, "{}")),
        "nps": some(nps, 0.97), "ces": some(ces, 0.8), "csat": some(csat, 0.7),
        "comment": pa.nulls(n, pa.string()),
        "complete": pa.array(rng.random(n) < 0.9),
        "started_at": pa.array(started, pa.timestamp("us", tz="UTC")),
        "updated_at": pa.array(started, pa.timestamp("us", tz="UTC")),
        "revision": pa.array(np.ones(n, dtype=np.int32)),
    })


def pandas_touchpoint(table: pa.Table) -> tuple[float, dict[str, tuple[int, ...]]]:
    """The counts of the touchpoint breakdown by pandas; its time without the loading."""
    frame = table.select(["touchpoint", "nps", "ces", "csat"]).to_pandas()
    began = time.perf_counter()
    nps, ces, csat = frame["nps"], frame["ces"], frame["csat"]
    parts = frame.assign(
        promoters=nps >= 9, passives=(nps >= 7) & (nps <= 8), detractors=nps <= 6,
        ces_n=ces.notna(), ces_sum=ces.fillna(0), ces_squares=ces.fillna(0) ** 2,
        ces_easy=ces >= 5, csat_n=csat.notna(), csat_top2=csat >= 4)
    counted = parts.groupby("touchpoint")[[
        "promoters", "passives", "detractors", "ces_n", "ces_sum", "ces_squares", "ces_easy",
        "csat_n", "csat_top2"]].sum()
    seconds = time.perf_counter() - began
    return seconds, {str(k): tuple(int(v) for v in row) for k, row in counted.iterrows()}


def timed(call: Any) -> tuple[float, Any]:
    began = time.perf_counter()
    result = call()
    return time.perf_counter() - began, result


def bench_scores(root: Path, n: int) -> dict[str, Any]:
    log(f"scores: generating {n:,} responses")
    table = generate(n)
    settings = Settings(data_dir=root / "scores", secret_key=SECRET)
    result: dict[str, Any] = {"responses": n}
    with bootstrap.build(settings) as kk:
        insert_s, _ = timed(lambda: responses.insert_many(kk.events, table))
        result["insert_1m_s"] = round(insert_s, 2)
        log(f"scores: inserted in {insert_s:.2f} s")
        everything = (*scores.GROUPS, *scores.TRENDS)
        with kk.events.reading() as cursor:
            runs = []
            for _ in range(5):
                seconds, report = timed(lambda: scores.report(
                    cursor, 1, everything, scores.Filters(), MIN_N))
                runs.append(seconds)
            overall_s, overall = timed(lambda: scores.overall(cursor, 1, min_n=MIN_N))
            one_s, by_touchpoint = timed(lambda: scores.breakdown(
                cursor, 1, "touchpoint", min_n=MIN_N))
    groups = {name: len(rows) for name, rows in report.breakdowns.items()}
    log(f"scores: full breakdown {statistics.median(runs):.3f} s (median of 5; first "
        f"{runs[0]:.3f} s); groups {groups}; overall NPS {overall.nps.value:.1f} "
        f"({overall.nps.low:.1f}-{overall.nps.high:.1f}), n {overall.nps.n:,}")
    pandas_s, counted = pandas_touchpoint(table)
    for group in by_touchpoint:  # the two ways count the same
        p, pas, d, ces_n, ces_sum, _, easy, csat_n, top2 = counted[group.key or ""]
        assert (group.nps.n, group.ces.n, group.csat.n) == (p + pas + d, ces_n, csat_n)
        expected = (100 * (p - d) / (p + pas + d), ces_sum / ces_n, 100 * easy / ces_n,
                    100 * top2 / csat_n)
        found = (group.nps.value, group.ces.value, group.ces_easy.value, group.csat.value)
        assert all(abs((f or 0) - e) < 1e-9 for f, e in zip(found, expected, strict=True))
    log(f"scores: overall alone {overall_s:.3f} s; by touchpoint {one_s:.3f} s in DuckDB, "
        f"{pandas_s:.3f} s in pandas (columns already in memory)")
    result.update({
        "scores_1m_s": round(statistics.median(runs), 3),
        "scores_1m_first_s": round(runs[0], 3),
        "scores_overall_s": round(overall_s, 3),
        "scores_by_touchpoint_s": round(one_s, 3),
        "pandas_by_touchpoint_s": round(pandas_s, 3),
        "groups": groups,
    })
    return result


# ---------------------------------------------------------------------------- the form


def prepare(data: Path, count: int) -> list[str]:
    """The starter workspace, `count` customers and an invitation for each; their form
    paths (/s/{token}). Every form has been opened, and every other one holds a one-click
    answer from the email (saved through feedback.submit), so a post merges with it."""
    settings = Settings(data_dir=data, secret_key=SECRET)
    now = datetime.now(UTC)
    with bootstrap.build(settings) as kk:
        workspace_service.apply(kk.db, document.load(STARTER), source=str(STARTER))
        ws = workspace_service.get(kk.db, "my-company")
        customers = [Customer(id=f"c{i}", language="fi" if i % 3 else "en")
                     for i in range(count)]
        people.upsert_customers(kk.db, ws.id, customers, now=now)
        survey = ws.document.survey("after-delivery")
        assert survey is not None
        # rows as feedback.invite makes them, written in one transaction (one each would
        # take minutes for a search's tens of thousands), already opened
        rows = []
        for i in range(count):
            ident = feedback.new_id()
            rows.append({
                "id": ident, "workspace_id": ws.id, "survey": survey.id, "customer": f"c{i}",
                "touchpoint": survey.touchpoint, "channel": "email",
                "event_id": f"manual:{ident}", "event_type": None, "occurred_at": now,
                "due_at": now, "status": "sent", "reason": None, "attempts": 0,
                "sent_at": now,
                "expires_at": now + timedelta(seconds=ws.document.feedback.link_seconds),
                "opened_at": now, "answered_at": None, "created_at": now})
        with kk.db.begin() as conn:
            conn.execute(insert(invitations), rows)
        paths = [feedback.link("", SECRET, row) for row in rows]

        def click(i: int) -> None:
            opened = feedback.open_link(kk, SECRET, paths[i].rsplit("/", 1)[1], now,
                                        mark_opened=False, read_response=False)
            feedback.submit(kk, ws, survey, {"recommend": 9}, response_id=rows[i]["id"],
                            source="email", now=now, invitation=opened.invitation,
                            person=opened.person)

        # many at once: the event store's writer saves those waiting together
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(click, range(1, count, 2)))
    return paths


def body(i: int) -> bytes:
    """Answers as the form posts them; a low NPS also answers the follow-up question."""
    recommend, effort, satisfied = (i * 7) % 11, 1 + (i * 5) % 7, 1 + (i * 3) % 5
    fields = f"recommend={recommend}&effort={effort}&satisfied={satisfied}"
    fields += "&shown=recommend+effort+satisfied"
    if recommend <= 6:
        fields += "+why&why=Toimitus+my%C3%B6h%C3%A4styi"
    return fields.encode()


def form_request(port: int, paths: list[str]) -> Any:
    """The i-th post: the form of invitation i, answered."""
    def request(i: int) -> bytes:
        answers = body(i)
        return (f"POST {paths[i]} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(answers)}\r\n\r\n").encode() + answers
    return request


def check_stored(data: Path, paths: list[str], acknowledged: list[int]) -> None:
    """Every post answered 200 holds exactly one complete response and an answered
    invitation; no other response is complete, no response is stored twice."""
    ids = [path.rsplit("/", 1)[1].split(".")[0] for path in paths]
    posted = {ids[i] for i in acknowledged}
    with bootstrap.build(Settings(data_dir=data, secret_key=SECRET)) as kk:
        ws = workspace_service.get(kk.db, "my-company")
        with kk.events.reading() as cursor:
            twice = cursor.execute("SELECT id FROM responses WHERE workspace_id = ? GROUP BY id "
                                   "HAVING count(*) > 1", [ws.id]).fetchall()
            complete = {r[0] for r in cursor.execute(
                "SELECT id FROM responses WHERE workspace_id = ? AND complete",
                [ws.id]).fetchall()}
        with kk.db.connect() as conn:
            answered = conn.execute(select(func.count()).select_from(invitations).where(
                invitations.c.answered_at.is_not(None))).scalar_one()
    assert not twice, f"responses stored twice: {twice[:5]}"
    assert complete == posted, (f"{len(posted)} posts acknowledged, {len(complete)} complete "
                                f"responses; {len(posted - complete)} acknowledged not saved")
    assert answered == len(posted), f"{answered} invitations answered, {len(posted)} posted"
    log(f"checked: {len(posted):,} acknowledged posts, each one complete response, "
        "stored once; the invitations answered")


def bench_submit(root: Path, rate: int, seconds: float, step_seconds: float,
                 pool: int) -> dict[str, Any]:
    data = root / "form"
    fixed = int(rate * seconds) + rate
    count = fixed + pool
    log(f"submit: starter workspace, {count:,} customers and invitations")
    began = time.perf_counter()
    paths = prepare(data, count)
    log(f"submit: prepared in {time.perf_counter() - began:.1f} s")
    result: dict[str, Any] = {}
    if step_seconds > 0:
        log("floor: a minimal FastAPI form route, served the same way")
        floor, floor_steps = floor_capacity(
            "/form", "application/x-www-form-urlencoded", body(0), step_seconds)
        result["floor_rps"] = floor
        log(f"floor: {floor}/s")
    log("submit: starting kokemus serve")
    server = Server(data, {"KOKEMUS_SECRET_KEY": SECRET, "KOKEMUS_FORM_RATE_LIMIT": "0",
                           "KOKEMUS_WORKER": "false"})
    acknowledged: list[int] = []
    try:
        request = form_request(server.port, paths)
        log(f"submit: POST /s/{{token}} at {rate}/s for {seconds:.0f} s (+1 s warm-up)")
        done = run(server.port, request, rate, rate, count=fixed)
        acknowledged += done.acknowledged
        if done.failures:
            raise SystemExit(f"{len(done.failures)} form posts failed, e.g. "
                             f"{done.failures[0]!r}")
        latencies, achieved = done.latencies, done.achieved
        if step_seconds > 0:
            log("submit: capacity search")
            step = searched(server.port, request, step_seconds, available=count, first=fixed)

            def kept(rate: int) -> Any:
                done = step(rate)
                acknowledged.extend(done.acknowledged)
                return done

            held, steps = capacity(kept, 25, label="submit: ")
            result["submit_capacity_rps"] = held
            result["submit_to_floor"] = round(held / result["floor_rps"], 3)
            result["submit_steps"] = [[s.rate, s.passed, s.p99_ms] for s in steps]
            result["floor_steps"] = [[s.rate, s.passed, s.p99_ms] for s in floor_steps]
            log(f"submit: capacity {held}/s, {result['submit_to_floor']} of the floor")
    finally:
        server.stop()
    check_stored(data, paths, acknowledged)
    result.update({
        "submit_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "submit_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "submit_max_ms": round(max(latencies) * 1000, 2),
        "submit_rps": round(achieved, 1),
        "submit_requests": len(latencies),
    })
    log(f"submit: p50 {result['submit_p50_ms']} ms, p99 {result['submit_p99_ms']} ms, "
        f"max {result['submit_max_ms']} ms at {achieved:.1f}/s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=200, help="Form posts per second.")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--step-seconds", type=float, default=4.0,
                        help="Length of each capacity-search step; 0 skips the search.")
    parser.add_argument("--pool", type=int, default=40_000,
                        help="Invitations made for the capacity search.")
    parser.add_argument("--skip", default="", help="Comma-separated: scores, submit.")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    root = Path(tempfile.mkdtemp(prefix="kokemus-feedback-bench-"))
    result: dict[str, Any] = {"submit_p99_ms": None, "submit_rps": None, "scores_1m_s": None,
                              "floor_rps": None, "submit_capacity_rps": None,
                              "submit_to_floor": None}
    try:
        if "scores" not in skip:
            result.update(bench_scores(root, args.responses))
        if "submit" not in skip:
            pool = args.pool if args.step_seconds > 0 else 0
            result.update(bench_submit(root, args.rate, args.seconds, args.step_seconds, pool))
        result["cpus"] = os.cpu_count()
        result["load_average"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
