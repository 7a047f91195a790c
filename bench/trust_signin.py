"""A burst of wrong sign-ins against a real `kokemus serve`: how much the server's memory
grows. argon2 spends ~64 MiB per password check, so 40 checks at once would take 2.5 GB;
the server bounds how many run at once (one per core), and the failure limits refuse
repeated tries before any hashing.

The burst is the worst case for the memory bound: 40 different user names from 40
different client addresses (the server trusts loopback as its proxy for this run, and
every request names another address in X-Forwarded-For), so no failure limit stops any
of them and each one is a full password check. `signin_rss_growth_mb` is the largest
resident size sampled during the burst above the size before it.

Target: signin_rss_growth_mb < 300. Run alone: prints one JSON object on its last line.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

sys.path.insert(0, str(Path(__file__).parent))
from ingest import workspace
from loadgen import RssGrowth, Server, log

BURST = 40
# the server must take X-Forwarded-For from loopback for the burst to come from many addresses
SERVER_ENV = {"KOKEMUS_WORKER": "false", "KOKEMUS_TRUSTED_PROXIES": "127.0.0.1"}


def wrong_sign_in(host: str, port: int, i: int) -> int:
    forwarded = {"X-Forwarded-For": f"198.51.{i // 250}.{i % 250 + 1}"}
    conn = http.client.HTTPConnection(host, port, timeout=60)
    conn.request("GET", "/login", headers=forwarded)
    page = conn.getresponse()
    cookie = page.getheader("set-cookie", "").split(";")[0]
    token = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
    body = urlencode({"username": f"intruder{i}", "password": "x" * 12,
                      "csrf": token.group(1) if token else "", "next": "/"})
    conn.request("POST", "/login", body=body, headers={
        **forwarded, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer.status


def measure_signin(url: str, pid: int, burst: int = BURST) -> dict[str, Any]:
    """Send `burst` wrong sign-ins at once to the server at `url` (process `pid`)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    wrong_sign_in(host, port, 10_000)  # warm up: one check first, not measured
    with RssGrowth(pid) as memory:
        start = time.perf_counter()
        with ThreadPoolExecutor(burst) as pool:
            statuses = list(pool.map(lambda i: wrong_sign_in(host, port, i), range(burst)))
        seconds = time.perf_counter() - start
    return {"signin_rss_growth_mb": memory.mb,
            "signin_burst": burst, "signin_burst_s": round(seconds, 2),
            "signin_statuses": {str(s): statuses.count(s) for s in sorted(set(statuses))}}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, _key = workspace(Path(tmp))
        log("starting kokemus serve")
        server = Server(data, env=SERVER_ENV)
        try:
            figures = measure_signin(f"http://127.0.0.1:{server.port}", server.proc.pid)
        finally:
            server.stop()
    log(f"sign-in burst: {figures}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
