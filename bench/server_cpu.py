"""Server CPU per request: the hosted form's post and the single-event post against the
floor's routes, at a fixed modest rate. Unlike a capacity search this hardly moves with
what else runs on the machine, so it guides work on the hot paths on a shared host.

    python bench/server_cpu.py                       # both parts, 200 requests/s for 10 s
    python bench/server_cpu.py --part form --rate 300 --seconds 20

For each part: the floor (bench/floor.py's /form or /json) and then `kokemus serve` over a
prepared store (the form: bench/feedback.py's invitations, half holding an earlier answer;
single events: bench/ingest.py's started workspace and key) get the same open-loop client
(bench/loadgen.py); after one second of warm-up, the server process's CPU time (user and
system, all threads) is read before and after `--seconds` of requests. The figures are
milliseconds of server CPU per request (`*_cpu_ms`) and the route's over the floor's
(`*_cpu_to_floor`); the event loop's share (the main thread) is given beside them. Every
request must be answered 200. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import psutil
from feedback import SECRET, body, form_request, prepare
from ingest import event_line, workspace
from loadgen import HOST, Floor, Server, log, percentile, run


def _times(pid: int) -> tuple[float, float]:
    """(all threads, the main thread) CPU seconds of a process."""
    process = psutil.Process(pid)
    total = process.cpu_times()
    main = next((t for t in process.threads() if t.id == pid), None)
    return (total.user + total.system,
            (main.user_time + main.system_time) if main is not None else 0.0)


def measured(pid: int, port: int, request: Callable[[int], bytes], rate: int,
             seconds: float, first: int = 0) -> dict[str, float]:
    """CPU ms per request of `pid` over `seconds` at `rate`, after one second of warm-up."""
    warm = run(port, lambda i: request(first + i), rate, rate, count=rate)
    if warm.failures:
        raise SystemExit(f"warm-up failed: {warm.failures[0]!r}")
    count = int(rate * seconds)
    before, before_main = _times(pid)
    done = run(port, lambda i: request(first + rate + i), rate, 0, count=count)
    after, after_main = _times(pid)
    if done.failures:
        raise SystemExit(f"{len(done.failures)} requests failed, e.g. {done.failures[0]!r}")
    return {"cpu_ms": round((after - before) * 1000 / count, 3),
            "loop_cpu_ms": round((after_main - before_main) * 1000 / count, 3),
            "p50_ms": round(percentile(done.latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(done.latencies, 99) * 1000, 2)}


def raw(port: int, path: str, content_type: str, payload: bytes, extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}"
            f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n\r\n"
            ).encode() + payload


def floor_cpu(path: str, content_type: str, payload: bytes, rate: int,
              seconds: float) -> dict[str, float]:
    floor = Floor()
    try:
        message = raw(floor.port, path, content_type, payload)
        return measured(floor.proc.pid, floor.port, lambda _: message, rate, seconds)
    finally:
        floor.stop()


def form_cpu(root: Path, rate: int, seconds: float) -> dict[str, Any]:
    floor = floor_cpu("/form", "application/x-www-form-urlencoded", body(0), rate, seconds)
    log(f"form floor: {floor}")
    data = root / "form"
    paths = prepare(data, int(rate * (seconds + 1)) + 10)
    server = Server(data, {"KOKEMUS_SECRET_KEY": SECRET, "KOKEMUS_FORM_RATE_LIMIT": "0",
                           "KOKEMUS_WORKER": "false"})
    try:
        route = measured(server.proc.pid, server.port, form_request(server.port, paths),
                         rate, seconds)
    finally:
        server.stop()
    log(f"form: {route}")
    return {"form_floor_cpu_ms": floor["cpu_ms"], "form_cpu_ms": route["cpu_ms"],
            "form_cpu_to_floor": round(route["cpu_ms"] / floor["cpu_ms"], 2),
            "form_floor_loop_cpu_ms": floor["loop_cpu_ms"],
            "form_loop_cpu_ms": route["loop_cpu_ms"], "form_p99_ms": route["p99_ms"]}


def single_cpu(root: Path, rate: int, seconds: float) -> dict[str, Any]:
    floor = floor_cpu("/json", "application/json", event_line(b"f", 0), rate, seconds)
    log(f"json floor: {floor}")
    data, key = workspace(root / "single")
    server = Server(data)
    try:
        def request(i: int) -> bytes:
            return raw(server.port, "/api/v1/events", "application/json",
                       event_line(b"k", i), f"Authorization: Bearer {key}\r\n")

        route = measured(server.proc.pid, server.port, request, rate, seconds)
    finally:
        server.stop()
    log(f"single: {route}")
    return {"json_floor_cpu_ms": floor["cpu_ms"], "single_cpu_ms": route["cpu_ms"],
            "single_cpu_to_floor": round(route["cpu_ms"] / floor["cpu_ms"], 2),
            "json_floor_loop_cpu_ms": floor["loop_cpu_ms"],
            "single_loop_cpu_ms": route["loop_cpu_ms"], "single_p99_ms": route["p99_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--part", choices=("form", "single", "both"), default="both")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kokemus-cpu-bench-"))
    result: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds}
    try:
        if args.part in ("form", "both"):
            result.update(form_cpu(root, args.rate, args.seconds))
        if args.part in ("single", "both"):
            result.update(single_cpu(root, args.rate, args.seconds))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["load_average"] = round(os.getloadavg()[0], 2)
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
