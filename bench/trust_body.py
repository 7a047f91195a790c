"""Oversized bodies against a real `kokemus serve`: how fast a 200 MB upload is refused and
how much the server's memory grows meanwhile.

The client sends the request headers, then streams the body from a thread while the main
thread waits for the answer; `body_413_ms` is the time from the first byte sent to the
status line of the 413. The server's resident memory is sampled every few milliseconds
during each upload; `body_rss_growth_mb` is the largest sample above the resting size.
Two uploads: one declaring its `Content-Length` (refused before the body is read) and one
chunked (counted while it streams, cut off past the limit).

Targets: body_413_ms < 100, body_rss_growth_mb < 50.
Run alone (`python bench/trust_body.py`): starts a server over a fresh data directory and
prints the figures as one JSON object on its last line.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from ingest import workspace
from loadgen import RssGrowth, Server, log

SIZE = 200 * 2**20
CHUNK = b"[" + b" " * (2**20 - 1)  # 1 MiB of (valid) JSON whitespace per write


def upload(host: str, port: int, path: str, size: int, chunked: bool,
           pid: int | None, key: str | None) -> dict[str, Any]:
    """POST `size` bytes to `path`; the status, the time to it and the RSS growth."""
    done = threading.Event()
    framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
    if key:  # authorised: the route gets as far as reading the body
        framing += b"\r\nAuthorization: Bearer %s" % key.encode()
    head = (b"POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n%s\r\n\r\n"
            % (path.encode(), host.encode(), port, framing))
    sock = socket.create_connection((host, port))
    sent = [0]

    def stream() -> None:
        try:
            while sent[0] < size and not done.is_set():
                piece = CHUNK[: size - sent[0]]
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent[0] += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: the rest is not wanted

    with RssGrowth(pid) as memory:
        start = time.perf_counter()
        sock.sendall(head)
        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        sock.settimeout(60)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        elapsed = time.perf_counter() - start
    done.set()
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    sender.join(10)
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return {"status": status, "ms": round(elapsed * 1000, 2), "sent_mb": round(sent[0] / 2**20, 1),
            "rss_growth_mb": memory.mb}


def measure_body(url: str, pid: int | None = None, key: str | None = None,
                 size: int = SIZE) -> dict[str, Any]:
    """The figures of a 200 MB upload to the server at `url` (its process `pid`, when given,
    for the memory figure), with and without Content-Length, on the route with the largest
    limit (POST /api/v1/events), with the ingest `key` when given so that the body is read."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    declared = upload(host, port, "/api/v1/events", size, chunked=False, pid=pid, key=key)
    chunked = upload(host, port, "/api/v1/events", size, chunked=True, pid=pid, key=key)
    return {
        "body_413_ms": max(declared["ms"], chunked["ms"]),
        "body_rss_growth_mb": max(declared["rss_growth_mb"], chunked["rss_growth_mb"]),
        "body_status": [declared["status"], chunked["status"]],
        "declared": declared, "chunked": chunked, "body_mb": round(size / 2**20),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, key = workspace(Path(tmp))
        log("starting kokemus serve")
        server = Server(data, env={"KOKEMUS_WORKER": "false"})
        try:
            url = f"http://127.0.0.1:{server.port}"
            measure_body(url, server.proc.pid, key, size=40 * 2**20)  # warm the server up
            result = measure_body(url, server.proc.pid, key)
        finally:
            server.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
