"""What the server benchmarks share: `kokemus serve` in a subprocess on loopback, an
open-loop client that measures latency from each request's due time, the floor (a minimal
FastAPI route served the same way, bench/floor.py) and a capacity search over offered rates.

Capacity: the highest offered rate a server holds for a step of a few seconds with p99
under 50 ms (latency counted from each request's due time) and no error. Absolute rates
differ between hosts (2.5x between ours) and with what else runs on a shared machine, so a
route's capacity is read as a ratio to the floor's, measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

HOST = "127.0.0.1"
KOKEMUS = str(Path(sys.executable).with_name("kokemus"))
FLOOR = str(Path(__file__).with_name("floor.py"))
TARGET_P99 = 0.050  # s: a step passes with p99 under this and no error


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class RssGrowth:
    """While in use, samples a process's resident memory every 2 ms; `mb` is the largest
    sample above the size it had at the start (0 without a process)."""

    def __init__(self, pid: int | None) -> None:
        self.process = psutil.Process(pid) if pid else None
        self.rest = self.peak = self.process.memory_info().rss if self.process else 0
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while self.process and not self._done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.002)

    def __enter__(self) -> RssGrowth:
        self._sampler.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._sampler.join(1)

    @property
    def mb(self) -> float:
        return round((self.peak - self.rest) / 2**20, 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """`kokemus serve` over `data` on a free port, with `env` added to the environment."""

    def __init__(self, data: Path, env: dict[str, str] | None = None,
                 command: list[str] | None = None) -> None:
        self.port = free_port()
        command = command or [KOKEMUS, "serve", "--data-dir", str(data)]
        self.proc = subprocess.Popen(
            [*command, "--port", str(self.port), "--host", HOST],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                stderr = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise SystemExit(f"server exited: {stderr}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("server did not start within 60 s")

    def rss_mb(self) -> float:
        return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Floor(Server):
    """The floor: bench/floor.py's minimal FastAPI app, served by uvicorn as `kokemus serve`
    serves (same loop and http implementation, one process, same host), in a subprocess."""

    def __init__(self) -> None:
        super().__init__(Path("."), command=[sys.executable, FLOOR])


@dataclass
class Run:
    """One open-loop run: latencies (s) of the counted requests, the achieved rate over them,
    the status lines that were not 200, the indexes of the requests answered 200 (counted or
    not), and whether the run gave up early."""

    latencies: list[float]
    achieved: float
    failures: list[bytes]
    acknowledged: list[int] = field(default_factory=list)
    gave_up: bool = False

    def p(self, percent: float) -> float:
        return percentile(self.latencies, percent) if self.latencies else float("inf")

    def passed(self) -> bool:
        return not self.gave_up and not self.failures and self.p(99) < TARGET_P99


def _client_loop() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the client too where installed: it shares the cores with the server, so
    the less CPU it takes per request the less it lowers what it measures."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def open_loop(port: int, requests: list[bytes], rate: int, warm: int,
              workers: int = 16) -> tuple[list[float], float, list[bytes]]:
    """`run` without giving up, as (latencies, achieved rate, failures)."""
    done = run(port, requests, rate, warm, workers)
    return done.latencies, done.achieved, done.failures


def run(port: int, requests: list[bytes] | Callable[[int], bytes], rate: int, warm: int,
        workers: int = 16, count: int | None = None, give_up: float | None = None) -> Run:
    """Send the raw HTTP `requests` open loop: request i is due at start + i/rate and its
    latency counts from that time (waiting for a free connection included), so a server that
    falls behind shows it. One asyncio thread drives `workers` keep-alive connections, so the
    client takes little CPU from the server on a small machine. The first `warm` requests
    are not counted. `requests` may be a function of the index (with `count`), so a long run
    needs no list of them made beforehand.

    With `give_up` (s), once a request has taken longer than that the run is lost: no more
    requests are sent (those waiting for a connection are dropped unsent), the ones in
    flight are waited for, and the run says it gave up. That keeps a capacity search from
    spending minutes on a rate far above what the server holds."""
    request = requests.__getitem__ if isinstance(requests, list) else requests
    total = len(requests) if isinstance(requests, list) else int(count or 0)
    latencies: list[float] = []
    failures: list[bytes] = []
    acknowledged: list[int] = []
    span: list[float] = []
    lost = [False]

    async def post(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], i: int) -> None:
        reader, writer = conn
        writer.write(request(i))
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if b" 200 " in status:
            acknowledged.append(i)
        else:
            failures.append(status)

    async def main() -> None:
        idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(workers):
            idle.put_nowait(await asyncio.open_connection(HOST, port))
        clock = time.perf_counter  # uvloop's loop.time() counts whole milliseconds
        start = clock() + 0.2

        async def one(i: int, due: float) -> None:
            conn = await idle.get()
            if lost[0]:
                idle.put_nowait(conn)
                return
            try:
                await post(conn, i)
            finally:
                idle.put_nowait(conn)
            took = clock() - due
            if give_up is not None and took > give_up:
                lost[0] = True
            if i >= warm:
                latencies.append(took)

        tasks = []
        for i in range(total):
            if lost[0]:
                break
            due = start + i / rate
            if (wait := due - clock()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        span.extend([start + warm / rate, clock()])
        while not idle.empty():
            idle.get_nowait()[1].close()

    factory = _client_loop()
    if factory is None:
        asyncio.run(main())
    else:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    achieved = len(latencies) / (span[1] - span[0]) if span[1] > span[0] else 0.0
    return Run(latencies, achieved, failures, sorted(acknowledged), lost[0])


class Exhausted(Exception):
    """A step would need more requests than were made for the search (invitations, say)."""


@dataclass
class Step:
    rate: int
    passed: bool
    p50_ms: float
    p99_ms: float
    achieved: float
    requests: int
    failures: int
    gave_up: bool

    def line(self) -> str:
        verdict = "holds" if self.passed else "fails"
        how = "gave up" if self.gave_up else f"p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms"
        return (f"{self.rate}/s {verdict}: {how}, {self.achieved:.0f}/s achieved, "
                f"{self.requests} requests, {self.failures} errors")


def capacity(step: Callable[[int], Run], start: int, *, most: int = 20_000,
             resolution: float = 0.05, tries: int = 2,
             label: str = "") -> tuple[int, list[Step]]:
    """The highest offered rate for which `step(rate)` passes (p99 under TARGET_P99, no
    error): doubling from `start` until a step fails (or `most`), then halving the interval
    between the last rate held and the first one lost until it is within `resolution` of
    itself. A rate is lost only when it fails `tries` times in a row: on a shared machine a
    neighbour's burst can spoil one step's p99 (the floor and the route get the same
    chances). Returns that rate (0 if even `start` fails) and every step, for the record."""
    steps: list[Step] = []

    def attempt(rate: int) -> bool:
        for _ in range(tries):
            done = step(rate)
            s = Step(rate, done.passed(), round(done.p(50) * 1000, 2),
                     round(done.p(99) * 1000, 2), round(done.achieved, 1), len(done.latencies),
                     len(done.failures), done.gave_up)
            steps.append(s)
            log(f"  {label}{s.line()}")
            time.sleep(0.5)  # let the server settle (its writer, its collector) between steps
            if s.passed:
                return True
        return False

    held, lost = 0, None
    rate = start
    try:
        while rate <= most:
            if not attempt(rate):
                lost = rate
                break
            held, rate = rate, rate * 2
        if lost is None:
            return held, steps
        while lost - held > max(1, held * resolution):
            middle = (held + lost) // 2
            if attempt(middle):
                held = middle
            else:
                lost = middle
    except Exhausted as exc:
        log(f"  {label}search stopped: {exc}; the figure is a lower bound")
    return held, steps


def searched(port: int, request: Callable[[int], bytes], seconds: float, warm: float = 0.5,
             give_up: float = 1.0, available: int | None = None,
             first: int = 0) -> Callable[[int], Run]:
    """A step for `capacity`: `seconds` of requests at the offered rate after `warm` seconds
    not counted, giving up once a request takes `give_up` seconds. `request(i)` makes the
    i-th request of the whole search (from `first`), so no two steps send the same one;
    past `available` requests the search is Exhausted."""
    sent = [first]

    def step(rate: int) -> Run:
        first = sent[0]
        count = int(rate * (seconds + warm))
        if available is not None and first + count > available:
            raise Exhausted(f"{rate}/s for {seconds + warm:.1f} s needs {count} requests, "
                            f"{available - first} are left")
        done = run(port, lambda i: request(first + i), rate, int(rate * warm), count=count,
                   give_up=give_up)
        done.acknowledged = [first + i for i in done.acknowledged]
        sent[0] += count
        return done

    return step


def floor_capacity(path: str, content_type: str, body: bytes, seconds: float,
                   start: int = 250) -> tuple[int, list[Step]]:
    """The floor's capacity: bench/floor.py's route `path` (/form or /json) posted `body`."""
    server = Floor()
    try:
        head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{server.port}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        message = head + body
        return capacity(searched(server.port, lambda _: message, seconds), start,
                        label="floor: ")
    finally:
        server.stop()
