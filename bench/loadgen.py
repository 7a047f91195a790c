"""What the server benchmarks share: `kokemus serve` in a subprocess on loopback, and an
open-loop client that measures latency from each request's due time."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

HOST = "127.0.0.1"
KOKEMUS = str(Path(sys.executable).with_name("kokemus"))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """`kokemus serve` over `data` on a free port, with `env` added to the environment."""

    def __init__(self, data: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [KOKEMUS, "serve", "--data-dir", str(data), "--port", str(self.port), "--host", HOST],
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


def open_loop(port: int, requests: list[bytes], rate: int, warm: int,
              workers: int = 16) -> tuple[list[float], float, list[bytes]]:
    """Send the raw HTTP `requests` open loop: request i is due at start + i/rate and its
    latency counts from that time (waiting for a free connection included), so a server that
    falls behind shows it. One asyncio thread drives `workers` keep-alive connections, so the
    client takes little CPU from the server on a small machine. The first `warm` requests
    are not counted. Returns the latencies (s), the achieved rate over the counted requests,
    and the status lines that were not 200."""
    latencies: list[float] = []
    failures: list[bytes] = []
    span: list[float] = []

    async def post(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], i: int) -> None:
        reader, writer = conn
        writer.write(requests[i])
        status = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        if b" 200 " not in status:
            failures.append(status)

    async def run() -> None:
        idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(workers):
            idle.put_nowait(await asyncio.open_connection(HOST, port))
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.2

        async def one(i: int, due: float) -> None:
            conn = await idle.get()
            try:
                await post(conn, i)
            finally:
                idle.put_nowait(conn)
            if i >= warm:
                latencies.append(loop.time() - due)

        tasks = []
        for i in range(len(requests)):
            due = start + i / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        span.extend([start + warm / rate, loop.time()])
        while not idle.empty():
            idle.get_nowait()[1].close()

    asyncio.run(run())
    return latencies, len(latencies) / (span[1] - span[0]), failures
