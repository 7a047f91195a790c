"""`kokemus serve` as a user starts it: a real process on loopback, a real key, a real POST."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

KOKEMUS = [sys.executable, "-m", "kokemus"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run([*KOKEMUS, *args], capture_output=True, text=True, env=env,
                            check=True)
    return result.stdout


@pytest.fixture
def server(tmp_path: Path, database_url: str | None) -> Iterator[tuple[str, str]]:
    env = {**os.environ, "KOKEMUS_DATA_DIR": str(tmp_path / "kokemus-data")}
    if database_url:
        env["KOKEMUS_DATABASE_URL"] = database_url
    run("init", str(tmp_path), env=env)
    run("apply", str(tmp_path / "workspace.yaml"), env=env)
    key = run("keys", "create", env=env).strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen([*KOKEMUS, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{url}/api/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, key
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_served_api_stores_events(server: tuple[str, str]) -> None:
    url, key = server
    event = {"id": "e1", "type": "order_placed", "customer": "c1", "channel": "web",
             "occurred_at": "2026-05-01T12:00:00+03:00"}
    headers = {"Authorization": f"Bearer {key}"}
    answer = httpx.post(f"{url}/api/v1/events", json=[event], headers=headers)
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    stats = httpx.get(f"{url}/api/v1/stats", headers=headers)
    assert stats.status_code == 403  # an ingest key may not read
    spec = httpx.get(f"{url}/api/openapi.json").json()
    assert "/api/v1/events" in spec["paths"]
