"""Ingestion benchmark: HTTP batches, the raw DuckDB floor, a 10M-event file import and
single-event latency, in one run on loopback. Progress goes to stderr; the last stdout line
is one JSON object with the figures.

    python bench/ingest.py            # full run (about 5 minutes on 2 cores)
    python bench/ingest.py --quick    # smaller sizes, no 10M import

single_capacity_rps, floor_rps, single_to_floor: the highest offered rate of single-event
POSTs held with p99 under 50 ms and no error (bench/loadgen.py `capacity`: doubling, then
halving the interval; each step --step-seconds after half a second not counted; every event
a new id), and the same search over the floor, bench/floor.py's minimal FastAPI route
reading a small JSON body, served by uvicorn as `kokemus serve` serves, in the same run.
After the server stops, the event store is opened again: every event acknowledged (200,
accepted) is stored exactly once, and no other single event is.

Targets: http_batch_events_per_s >= 50,000; import_10m_s < 180 with import_10m_peak_mb
< 1,500; single_p99_ms < 20 (500 requests/s, open loop, latency from the scheduled time);
single_to_floor >= 0.3.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import orjson
import psutil
import pyarrow as pa
from loadgen import (
    HOST,
    KOKEMUS,
    Server,
    capacity,
    floor_capacity,
    log,
    open_loop,
    percentile,
    searched,
)

TYPES = (b"order_placed", b"delivered")
CHANNELS = (b"web", b"email", b"phone")
BASE = datetime(2026, 1, 1, tzinfo=UTC)

DDL = """
CREATE TABLE events (
    workspace_id INTEGER NOT NULL, id VARCHAR NOT NULL, seq BIGINT NOT NULL,
    type VARCHAR NOT NULL, customer VARCHAR NOT NULL, account VARCHAR,
    channel VARCHAR NOT NULL, touchpoint VARCHAR, occurred_at TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL, properties JSON, PRIMARY KEY (workspace_id, id)
)
"""


# ---------------------------------------------------------------------------- data


def event_line(prefix: bytes, n: int) -> bytes:
    """One event as JSON text; fields vary with n, a third carry properties."""
    sec, micro = divmod(n * 7919, 1_000_000)
    day, sec = divmod(sec % (180 * 86400), 86400)
    stamp = b"2026-%02d-%02dT%02d:%02d:%02d.%06d+02:00" % (
        1 + day // 28 % 6, 1 + day % 28, sec // 3600, sec // 60 % 60, sec % 60, micro)
    props = b'{"amount":%d,"sku":"s%d"}' % (n % 997, n % 31) if n % 3 == 0 else b"{}"
    return (b'{"id":"%s%d","type":"%s","customer":"c%d","channel":"%s","occurred_at":"%s",'
            b'"properties":%s}' % (prefix, n, TYPES[n % 2], n % 200_003, CHANNELS[n % 3],
                                  stamp, props))


def batch_bodies(prefix: bytes, events: int, size: int) -> list[bytes]:
    return [b"[" + b",".join(event_line(prefix, n) for n in range(start, start + size)) + b"]"
            for start in range(0, events, size)]


def arrow_batches(events: int, size: int) -> list[pa.Table]:
    """The same rows as the HTTP run, already in the event store's columns."""
    out = []
    for start in range(0, events, size):
        rows = [orjson.loads(event_line(b"h", n)) for n in range(start, start + size)]
        out.append(pa.table({
            "workspace_id": pa.array([1] * size, pa.int32()),
            "id": [r["id"] for r in rows],
            "type": [r["type"] for r in rows],
            "customer": [r["customer"] for r in rows],
            "account": pa.array([None] * size, pa.string()),
            "channel": [r["channel"] for r in rows],
            "touchpoint": pa.array(["order" if r["type"] == "order_placed" else "delivery"
                                    for r in rows], pa.string()),
            "occurred_at": pa.array([datetime.fromisoformat(r["occurred_at"]) for r in rows],
                                    pa.timestamp("us", tz="UTC")),
            "properties": [orjson.dumps(r["properties"]).decode() if r["properties"] else None
                           for r in rows],
        }))
    return out


def write_jsonl(path: Path, events: int) -> None:
    step = 200_000
    with open(path, "wb") as f:
        for start in range(0, events, step):
            f.write(b"\n".join(event_line(b"i", n)
                               for n in range(start, min(events, start + step))) + b"\n")


# ---------------------------------------------------------------------------- set-up


def run(*args: str) -> str:
    done = subprocess.run([KOKEMUS, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"kokemus {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def workspace(root: Path) -> tuple[Path, str]:
    """A started workspace in `root`; its data dir and an ingest key."""
    run("init", str(root))
    data = root / "kokemus-data"
    run("apply", str(root / "workspace.yaml"), "--data-dir", str(data))
    key = run("keys", "create", "--data-dir", str(data)).strip().splitlines()[-1]
    assert key.startswith("kk_"), key
    return data, key


# ---------------------------------------------------------------------------- HTTP


class Client:
    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(self, body: bytes) -> dict[str, Any]:
        self.conn.request("POST", "/api/v1/events", body, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:300]!r}")
        answer: dict[str, Any] = orjson.loads(data)
        return answer

    def close(self) -> None:
        self.conn.close()


def http_batches(port: int, key: str, bodies: list[bytes], connections: int) -> dict[str, Any]:
    todo: Iterator[bytes] = iter(bodies)
    lock = threading.Lock()
    accepted = [0] * connections
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        client = Client(port, key)
        try:
            while True:
                with lock:
                    body = next(todo, None)
                if body is None:
                    return
                accepted[i] += client.post(body)["accepted"]
        except BaseException as exc:  # reported after the run
            errors.append(exc)
        finally:
            client.close()

    # a short warm-up, then the measured run
    Client(port, key).post(bodies[0])
    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    last, shown = start, 0
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        now = time.perf_counter()
        if now - last >= 5:
            total = sum(accepted)
            log(f"  http: {total:,} events, {(total - shown) / (now - last):,.0f}/s")
            last, shown = now, total
    seconds = time.perf_counter() - start
    if errors:
        raise SystemExit(f"HTTP batch run failed: {errors[0]!r}")
    total = sum(accepted) + 1_000  # the warm-up batch
    return {"events": total, "seconds": seconds, "per_s": (total - 1_000) / seconds}


def single_latency(port: int, key: str, rate: int, seconds: float, workers: int) -> list[float]:
    """Open loop: request i is due at start + i/rate; latency counts from that time (waiting
    for a free connection included). One asyncio thread drives `workers` keep-alive
    connections, so the client takes little CPU from the server on a small machine. The
    first second warms the connections up and is not counted."""
    warm = rate
    count = int(rate * seconds) + warm
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n").encode()
    requests = [head + b"Content-Length: %d\r\n\r\n" % len(body) + body
                for body in (event_line(b"s", n) for n in range(count))]
    latencies, _, failures = open_loop(port, requests, rate, warm, workers)
    if failures:
        raise RuntimeError(f"single event: {failures[0]!r}")
    return latencies


def single_capacity(port: int, key: str, seconds: float) -> tuple[int, list[Any], list[int]]:
    """The capacity search over single-event posts (each event a new id, prefix "k"); the
    rate held, the steps and the indexes of the events acknowledged."""
    head = (f"POST /api/v1/events HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n").encode()

    def request(i: int) -> bytes:
        body = event_line(b"k", i)
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    acknowledged: list[int] = []
    step = searched(port, request, seconds)

    def kept(rate: int) -> Any:
        done = step(rate)
        acknowledged.extend(done.acknowledged)
        return done

    held, steps = capacity(kept, 125, label="single: ")
    return held, steps, acknowledged


def check_single(data: Path, acknowledged: list[int]) -> None:
    """Every single event acknowledged is stored exactly once; no other one is."""
    con = duckdb.connect(str(data / "events.duckdb"), read_only=True)
    try:
        stored = con.execute("SELECT id, count(*) FROM events WHERE id LIKE 'k%' "
                             "GROUP BY id").fetchall()
    finally:
        con.close()
    twice = [ident for ident, n in stored if n != 1]
    assert not twice, f"events stored more than once: {twice[:5]}"
    expected = {f"k{i}" for i in acknowledged}
    found = {ident for ident, _ in stored}
    assert found == expected, (f"{len(expected)} events acknowledged, {len(found)} stored; "
                               f"{len(expected - found)} acknowledged not stored")
    log(f"checked: {len(expected):,} acknowledged single events, each stored once")


# ---------------------------------------------------------------------------- raw DuckDB


def raw_append(path: Path, batches: list[pa.Table]) -> float:
    """The floor: the same rows, batch by batch, straight into a table of the same schema."""
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(DDL)
    columns = ", ".join(batches[0].schema.names)
    seq = 1
    start = time.perf_counter()
    for batch in batches:
        con.execute(
            f"INSERT INTO events ({columns}, seq, received_at) "
            f"SELECT {columns}, ? + row_number() OVER () - 1, now() FROM batch",
            [seq],
        )
        seq += batch.num_rows
    seconds = time.perf_counter() - start
    con.close()
    return seq / seconds


# ---------------------------------------------------------------------------- import


def timed_import(root: Path, events: int) -> tuple[float, float, str]:
    data, _ = workspace(root / "import")
    path = root / "events.jsonl"
    t = time.perf_counter()
    write_jsonl(path, events)
    log(f"  wrote {events:,} events ({path.stat().st_size / 2**30:.2f} GiB) "
        f"in {time.perf_counter() - t:.1f} s")
    peak = [0.0]
    start = time.perf_counter()
    proc = subprocess.Popen([KOKEMUS, "import", "events", str(path), "--data-dir", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stop = threading.Event()

    def watch() -> None:
        p = psutil.Process(proc.pid)
        last = time.monotonic()
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], p.memory_info().rss / 2**20)
            except psutil.Error:
                return
            if time.monotonic() - last > 15:
                last = time.monotonic()
                log(f"  import: {time.perf_counter() - start:.0f} s, rss {peak[0]:,.0f} MB peak")
            stop.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    stop.set()
    watcher.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    output = proc.stdout.read().decode().strip() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"import failed ({proc.returncode}): {output}")
    path.unlink()
    peak_mb = max(peak[0], usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
    return seconds, peak_mb, output


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, no 10M import")
    parser.add_argument("--events", type=int, help="events in the HTTP batch run")
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--single-seconds", type=float)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--step-seconds", type=float, default=4.0,
                        help="Length of each capacity-search step.")
    parser.add_argument("--import-events", type=int)
    parser.add_argument("--skip", action="append", default=[],
                        help="http, raw, single, capacity or import (for profiling one part)")
    args = parser.parse_args()
    events = args.events or (200_000 if args.quick else 1_500_000)
    events -= events % args.batch
    single_seconds = args.single_seconds or (5.0 if args.quick else 15.0)
    import_events = args.import_events or (None if args.quick else 10_000_000)

    result: dict[str, Any] = {
        "http_batch_events_per_s": None, "raw_append_events_per_s": None, "ratio_to_raw": None,
        "import_10m_s": None, "import_10m_peak_mb": None, "single_p99_ms": None,
        "floor_rps": None, "single_capacity_rps": None, "single_to_floor": None,
        "events": events, "batch": args.batch, "connections": args.connections,
        "cores": os.cpu_count(), "quick": args.quick,
        "duckdb": duckdb.__version__,
    }
    root = Path(tempfile.mkdtemp(prefix="kokemus-bench-"))
    try:
        searching = "capacity" not in args.skip
        if searching:
            log("floor: a minimal FastAPI JSON route, served the same way")
            floor, floor_steps = floor_capacity("/json", "application/json",
                                                event_line(b"f", 0), args.step_seconds)
            result["floor_rps"] = floor
            result["floor_steps"] = [[s.rate, s.passed, s.p99_ms] for s in floor_steps]
            log(f"floor: {floor}/s")
        if "http" not in args.skip or "single" not in args.skip or searching:
            data, key = workspace(root / "http")
            server = Server(data)
            acknowledged: list[int] = []
            try:
                if "http" not in args.skip:
                    log(f"http: {events:,} events in batches of {args.batch} over "
                        f"{args.connections} connections")
                    bodies = batch_bodies(b"h", events, args.batch)
                    http = http_batches(server.port, key, bodies, args.connections)
                    del bodies
                    result["http_batch_events_per_s"] = round(http["per_s"])
                    result["http_seconds"] = round(http["seconds"], 2)
                    result["server_rss_mb"] = round(server.rss_mb())
                    log(f"http: {http['per_s']:,.0f} events/s over {http['seconds']:.1f} s")
                if "single" not in args.skip:
                    log(f"single: one event per request at {args.rate}/s for {single_seconds} s")
                    lat = single_latency(server.port, key, args.rate, single_seconds, 16)
                    result["single_p50_ms"] = round(percentile(lat, 50) * 1000, 2)
                    result["single_p99_ms"] = round(percentile(lat, 99) * 1000, 2)
                    result["single_max_ms"] = round(max(lat) * 1000, 2)
                    result["single_requests"] = len(lat)
                    log(f"single: p50 {result['single_p50_ms']} ms, "
                        f"p99 {result['single_p99_ms']} ms, max {result['single_max_ms']} ms")
                if searching:
                    log("single: capacity search")
                    held, steps, acknowledged = single_capacity(server.port, key,
                                                                args.step_seconds)
                    result["single_capacity_rps"] = held
                    result["single_to_floor"] = round(held / result["floor_rps"], 3)
                    result["single_steps"] = [[s.rate, s.passed, s.p99_ms] for s in steps]
                    log(f"single: capacity {held}/s, {result['single_to_floor']} of the floor")
            finally:
                server.stop()
            if searching:
                check_single(data, acknowledged)
        if "raw" not in args.skip:
            log("raw: building the same rows as Arrow batches")
            batches = arrow_batches(events, args.batch)
            raw = raw_append(root / "raw.duckdb", batches)
            del batches
            result["raw_append_events_per_s"] = round(raw)
            log(f"raw: {raw:,.0f} events/s")
            if result["http_batch_events_per_s"]:
                result["ratio_to_raw"] = round(result["http_batch_events_per_s"] / raw, 3)
        if import_events and "import" not in args.skip:
            log(f"import: {import_events:,} events from JSONL")
            seconds, peak_mb, output = timed_import(root, import_events)
            result["import_10m_s"] = round(seconds, 1)
            result["import_10m_peak_mb"] = round(peak_mb)
            result["import_events"] = import_events
            result["import_per_s"] = round(import_events / seconds)
            log(f"import: {seconds:.1f} s, peak {peak_mb:,.0f} MB: {output}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["load_average"] = round(os.getloadavg()[0], 2)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
