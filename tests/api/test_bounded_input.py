"""Bounded input as an attacker meets it: oversized bodies (declared or streamed), deep or
large JSON, bodies that are not JSON at all; every one answered 4xx in the API's shape."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kokemus.api.app import create_app
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from tests.api.test_events_api import event, stored
from tests.cli.test_serve import server  # noqa: F401  (a real `kokemus serve`)

MB = 2**20


def nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


# ------------------------------------------------------------------------- body size


def test_declared_oversized_body_is_refused_before_a_byte_is_read(
        settings: Settings, kk: Kokemus) -> None:
    app = create_app(settings, kk)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body must not be read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/events", "raw_path": b"",
             "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 1234),
             "headers": [(b"content-length", str(200 * MB).encode()),
                         (b"content-type", b"application/json")]}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    body = httpx.Response(413, content=sent[1]["body"]).json()
    assert body == {"error": "body_too_large", "limit": settings.max_batch_body,
                    "message": f"the request body is larger than the limit of "
                               f"{settings.max_batch_body} bytes"}


def test_streamed_body_is_cut_off_past_the_limit(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    pulled = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b"[" + orjson_event(0) + b","
        for i in range(1, 6 * 1024):  # 6 MB of events, past the 4 MB limit of this route
            pulled.append(i)
            yield b" " * 1024

    answer = client.post("/api/v1/responses", content=chunks(), headers=auth)
    assert answer.status_code == 413
    assert answer.json()["error"] == "body_too_large"
    assert answer.json()["limit"] == 4 * MB


def orjson_event(i: int) -> bytes:
    import orjson

    return orjson.dumps(event(i))


def test_batch_routes_take_a_larger_body_than_the_others(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    # 1,000 events with 5 KB of properties each: 5 MB, over the 4 MB of other routes
    batch = [event(i, properties={"note": "x" * 5_000}) for i in range(1_000)]
    answer = client.post("/api/v1/events", json=batch, headers=auth)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1_000
    refused = client.post("/api/v1/responses", json={"survey": "x", "answers": {
        "a": "x" * (5 * MB)}}, headers=auth)
    assert refused.status_code == 413 and refused.json()["error"] == "body_too_large"


def test_limits_are_settings(tmp_path: Any, kk: Kokemus, workspace: ActiveWorkspace,
                             auth: dict[str, str]) -> None:
    small = kk.settings.model_copy(update={"max_body": 1_000, "max_batch_body": 2_000})
    with TestClient(create_app(small, kk)) as client:
        over = client.post("/api/v1/events", json=[event(i) for i in range(20)], headers=auth)
        assert over.status_code == 413 and over.json()["limit"] == 2_000
        under = client.post("/api/v1/events", json=[event(1)], headers=auth)
        assert under.status_code == 200
        form = client.post("/login", data={"email": "a@b.c", "password": "x" * 1_500})
        assert form.status_code == 413 and form.json()["limit"] == 1_000
    assert [r[0] for r in stored(kk, workspace)] == ["e1"]


def test_served_200_mb_body_is_refused_at_once(server: tuple[str, str]) -> None:  # noqa: F811
    """Against the real server, with the benchmark's own client (bench/trust_body.py): a
    200 MB upload, declared or chunked, gets its 413 long before 200 MB could be sent."""
    sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))
    try:
        from trust_body import measure_body  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    url, key = server
    figures = measure_body(url, key=key)
    assert figures["body_status"] == [413, 413]
    # refused on the headers: the answer came before even the limit's 16 MB could be sent
    assert figures["declared"]["sent_mb"] < 16
    assert figures["chunked"]["sent_mb"] < 40  # cut off near the 16 MB limit
    assert figures["declared"]["ms"] < 1_000


# ------------------------------------------------------------------------- JSON shape


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/customers", "/api/v1/accounts",
                                  "/api/v1/responses", "/api/v1/invitations"])
def test_every_body_route_answers_invalid_json_the_same_way(
        client: TestClient, auth: dict[str, str], path: str) -> None:
    for raw in (b"{not json", b"[" * 100_000 + b"]" * 100_000,
                b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        answer = client.post(path, content=raw, headers={**auth,
                                                         "Content-Type": "application/json"})
        assert answer.status_code == 400, (path, answer.text[:200])
        body = answer.json()
        assert body["error"] == "invalid_json"
        assert body["message"].startswith("the body is not valid JSON: ")


def test_deep_or_large_properties_reject_only_their_item(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    batch = [event(1), event(2, properties=nested(300)), event(3),
             event(4, properties={"blob": "x" * 40_000}), event(5, properties=nested(16))]
    answer = client.post("/api/v1/events", json=batch, headers=auth)
    assert answer.status_code == 200
    body = answer.json()
    assert body["accepted"] == 3
    assert body["rejected"] == [
        {"index": 1, "reason": "properties: nested deeper than 16 levels"},
        {"index": 3, "reason": "properties: 40011 bytes of JSON; at most 32768"}]
    assert [r[0] for r in stored(kk, workspace)] == ["e1", "e3", "e5"]


def test_customer_nested_300_deep_is_rejected_with_the_field(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    batch = [{"id": "c1", "attributes": nested(300)}, {"id": "c2", "attributes": {"tier": 1}}]
    answer = client.post("/api/v1/customers", json=batch, headers=auth)
    assert answer.status_code == 200
    assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": [
        {"index": 0, "reason": "attributes: nested deeper than 16 levels"}]}
    assert people.get_customer(kk.db, workspace.id, "c1") is None
    assert people.get_customer(kk.db, workspace.id, "c2")["attributes"] == {"tier": 1}
    account = client.post("/api/v1/accounts", json={"id": "a1", "name": "A",
                                                    "attributes": nested(17)}, headers=auth)
    assert answer.status_code == 200 and account.status_code == 422
    assert account.json()["rejected"] == [
        {"index": 0, "reason": "attributes: nested deeper than 16 levels"}]
