"""The direct routes (api/direct.py): a single event and a form's post answered straight by
their endpoints give what the full FastAPI way gives, with every check, and what the
direct way does not take still goes the full way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from kokemus.api.direct import App
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.services import access, feedback
from kokemus.services.ingest import ingest_customers
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses

SECRET = "test-secret"  # the settings fixture's secret_key


def event(i: int) -> bytes:
    return (b'{"id":"d%d","type":"order_placed","customer":"c1","channel":"web",'
            b'"occurred_at":"2026-03-01T10:00:00+02:00"}' % i)


def chunked(body: bytes) -> Iterator[bytes]:
    """A body without a declared length (sent chunked): the direct way does not take it."""
    yield body


def stored(kk: Kokemus, ws: ActiveWorkspace) -> list[str]:
    with kk.events.reading() as cur:
        return [r[0] for r in cur.execute(
            "SELECT id FROM events WHERE workspace_id = ? ORDER BY seq", [ws.id]).fetchall()]


def both(client: TestClient, path: str, body: bytes,
         headers: dict[str, str]) -> tuple[Any, Any]:
    """The same post, the direct way (declared length) and the full way (chunked)."""
    direct = client.post(path, content=body, headers=headers)
    full = client.post(path, content=chunked(body), headers=headers)
    return direct, full


def test_single_event_answers_the_same_both_ways(
        client: TestClient, auth: dict[str, str], kk: Kokemus,
        workspace: ActiveWorkspace) -> None:
    headers = {**auth, "Content-Type": "application/json"}
    direct = client.post("/api/v1/events", content=event(1), headers=headers)
    full = client.post("/api/v1/events", content=chunked(event(2)), headers=headers)
    for answer in (direct, full):
        assert answer.status_code == 200
        assert answer.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
        assert answer.headers["content-type"] == "application/json"
    again = client.post("/api/v1/events", content=event(1), headers=headers)
    assert again.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert stored(kk, workspace) == ["d1", "d2"]


@pytest.mark.parametrize(("body", "headers", "status", "code"), [
    (event(3), {}, 401, "unauthorized"),
    (event(3), {"Authorization": "Bearer kk_nope_nothing"}, 401, "unauthorized"),
    (b'{"id": ', None, 400, "invalid_json"),
    (b"[]", None, 422, "empty_batch"),
    (event(3), {"X-Kokemus-Workspace": "another"}, 403, "forbidden"),
])
def test_errors_have_the_api_shape_both_ways(
        client: TestClient, auth: dict[str, str], kk: Kokemus, workspace: ActiveWorkspace,
        body: bytes, headers: dict[str, str] | None, status: int, code: str) -> None:
    sent = {"Content-Type": "application/json", **(auth if headers is None or
                                                   "X-Kokemus-Workspace" in headers else {}),
            **(headers or {})}
    for answer in both(client, "/api/v1/events", body, sent):
        assert answer.status_code == status, answer.text
        assert answer.json()["error"] == code
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"
    assert stored(kk, workspace) == []


def test_a_key_without_the_scope_is_refused_directly(
        client: TestClient, kk: Kokemus, workspace: ActiveWorkspace) -> None:
    reader = access.create_key(kk.db, workspace.slug, "reader", {"read"})
    answer = client.post("/api/v1/events", content=event(4),
                         headers={"Authorization": f"Bearer {reader}"})
    assert answer.status_code == 403
    assert answer.json() == {"error": "forbidden",
                             "message": "this key lacks the 'ingest' scope"}
    assert stored(kk, workspace) == []


def test_over_the_limit_goes_the_full_way_and_gets_413(
        settings: Settings, kk: Kokemus, workspace: ActiveWorkspace, api_key: str) -> None:
    from kokemus.api.app import create_app

    small = settings.model_copy(update={"max_body": 100, "max_batch_body": 100})
    with TestClient(create_app(small, kk)) as client:
        answer = client.post("/api/v1/events", content=event(5) + b" " * 100,
                             headers={"Authorization": f"Bearer {api_key}"})
    assert answer.status_code == 413
    assert answer.json() == {"error": "body_too_large", "limit": 100,
                             "message": "the request body is larger than the limit of 100 bytes"}
    assert stored(kk, workspace) == []


# ------------------------------------------------------------------------------ the form


@pytest.fixture
def invitation(kk: Kokemus, workspace: ActiveWorkspace) -> dict[str, Any]:
    assert ingest_customers([{"id": "emma", "language": "en"}], workspace, kk.db).accepted
    return feedback.invite(kk.db, workspace, "after-delivery", "emma", channel="email",
                           now=datetime.now(UTC))


def form_path(invitation: dict[str, Any]) -> str:
    return "/s/" + feedback.sign(SECRET, invitation["id"], invitation["expires_at"])


def test_a_form_post_is_saved_and_thanked_with_the_security_headers(
        client: TestClient, kk: Kokemus, workspace: ActiveWorkspace,
        invitation: dict[str, Any]) -> None:
    answer = client.post(form_path(invitation), data={
        "recommend": "9", "effort": "6", "satisfied": "5",
        "shown": "recommend effort satisfied"})
    assert answer.status_code == 200
    assert "Thank you" in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    row = responses.get(kk.events, workspace.id, invitation["id"])
    assert row is not None and row["complete"] and row["nps"] == 9


def test_a_multipart_form_post_goes_the_full_way_and_is_saved_the_same(
        client: TestClient, kk: Kokemus, workspace: ActiveWorkspace,
        invitation: dict[str, Any]) -> None:
    answer = client.post(form_path(invitation), data={"recommend": "3", "shown": "recommend"},
                         files={"unused": ("a.txt", b"x")})
    assert answer.status_code == 200
    row = responses.get(kk.events, workspace.id, invitation["id"])
    assert row is not None and row["nps"] == 3 and not row["complete"]


def test_a_forged_link_gets_its_page_directly(client: TestClient, invitation: dict[str, Any],
                                              workspace: ActiveWorkspace) -> None:
    forged = "/s/" + feedback.sign("another-secret", invitation["id"], invitation["expires_at"])
    answer = client.post(forged, data={"recommend": "9"})
    assert answer.status_code == 404, (answer.status_code, answer.text[:300])
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


# ------------------------------------------------------------------------------ the dispatch


def test_what_a_direct_route_does_not_take_goes_to_fastapi() -> None:
    """Another method, a query string, a path of more segments, another media type: the
    FastAPI route answers; an exception without a handler is a 500."""
    app = App()
    calls: list[str] = []

    async def direct(request: Request, name: str) -> Response:
        calls.append(name)
        if name == "boom":
            raise RuntimeError("boom")
        return Response(f"direct {name} {(await request.body()).decode()}")

    @app.api_route("/x/{name}", methods=["GET", "POST"])
    async def routed(name: str) -> Response:
        return Response(f"routed {name}")

    app.direct("/x/{name}", direct, limit=10, content_type="text/plain")
    plain = {"Content-Type": "text/plain; charset=utf-8"}
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/x/a", content=b"hi", headers=plain).text == "direct a hi"
        assert client.post("/x/a?q=1", content=b"hi", headers=plain).text == "routed a"
        assert client.post("/x/a", content=b"hi",
                           headers={"Content-Type": "application/json"}).text == "routed a"
        assert client.post("/x/a", content=b"longer than ten", headers=plain).text == "routed a"
        assert client.get("/x/a").text == "routed a"
        boom = client.post("/x/boom", content=b"", headers=plain)
    assert boom.status_code == 500
    assert calls == ["a", "boom"]


def test_an_app_without_direct_routes_is_plain_fastapi() -> None:
    app = App()
    assert isinstance(app, FastAPI)
    with TestClient(app) as client:
        assert client.post("/nothing", content=b"{}").status_code == 404
