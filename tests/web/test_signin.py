"""Sessions kept on the server, timeouts, Secure cookies, sign-in limits, the bound on
concurrent password hashing and the trusted-proxy rule, as a user or attacker meets them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from starlette.requests import Request

from kokemus import bootstrap
from kokemus.api.app import create_app
from kokemus.config import Settings
from kokemus.services import access, audit
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import sessions
from kokemus.web.limits import FailureLimit, client_address
from tests.web.test_pages import PASSWORD, csrf, log_in


@pytest.fixture
def anna(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> str:
    access.create_user(kk.db, "anna", PASSWORD)
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    return "anna"


def session_rows(kk: bootstrap.Kokemus) -> int:
    with kk.db.connect() as conn:
        return len(conn.execute(select(sessions.c.id)).all())


def test_sign_out_ends_the_session_on_the_server(
    client: TestClient, kk: bootstrap.Kokemus, anna: str
) -> None:
    log_in(client)
    assert session_rows(kk) == 1
    stolen = dict(client.cookies)  # a copy of the cookie, as a thief would keep it
    page = client.get("/w/my-company")
    client.post("/logout", data={"csrf": csrf(page.text)})
    assert session_rows(kk) == 0
    client.cookies.clear()
    client.cookies.update(stolen)
    replay = client.get("/w/my-company", follow_redirects=False)
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


def test_disabling_a_user_ends_their_sessions_at_once(
    client: TestClient, kk: bootstrap.Kokemus, anna: str
) -> None:
    log_in(client)
    assert client.get("/w/my-company").status_code == 200
    access.disable_user(kk.db, "anna")
    assert client.get("/w/my-company", follow_redirects=False).status_code == 303
    again = log_in(client)
    assert again.status_code == 401  # the right password no longer lets her in
    access.disable_user(kk.db, "anna", disabled=False)
    assert log_in(client).url.path == "/"  # the home page


def test_a_password_reset_signs_the_old_sessions_out(
    client: TestClient, kk: bootstrap.Kokemus, anna: str
) -> None:
    log_in(client)
    access.reset_password(kk.db, "anna")
    assert client.get("/w/my-company", follow_redirects=False).status_code == 303


def test_idle_and_absolute_timeouts(client: TestClient, kk: bootstrap.Kokemus,
                                    anna: str) -> None:
    log_in(client)
    hours = timedelta(hours=1)
    # unseen for longer than the idle timeout (8 h by default): ended
    with kk.db.begin() as conn:
        conn.execute(update(sessions).values(seen_at=datetime.now(UTC) - 9 * hours))
    assert client.get("/w/my-company", follow_redirects=False).status_code == 303
    assert session_rows(kk) == 0
    # busy all along, but signed in longer ago than the absolute limit (7 days): ended
    log_in(client)
    with kk.db.begin() as conn:
        conn.execute(update(sessions).values(created_at=datetime.now(UTC) - 8 * 24 * hours,
                                             seen_at=datetime.now(UTC)))
    assert client.get("/w/my-company", follow_redirects=False).status_code == 303
    # within both: the visit moves seen_at on (at most once a minute)
    log_in(client)
    with kk.db.begin() as conn:
        conn.execute(update(sessions).values(seen_at=datetime.now(UTC) - 2 * hours))
    assert client.get("/w/my-company").status_code == 200
    with kk.db.connect() as conn:
        seen = conn.execute(select(sessions.c.seen_at)).scalar_one()
    assert datetime.now(UTC) - seen < timedelta(minutes=1)


@pytest.mark.parametrize(("public_url", "secure"), [("https://cx.example.fi", True),
                                                    ("http://127.0.0.1:8000", False)])
def test_cookies_are_secure_when_served_over_https(
    kk: bootstrap.Kokemus, settings: Settings, public_url: str, secure: bool
) -> None:
    over = settings.model_copy(update={"public_url": public_url})
    with TestClient(create_app(over, kk), base_url=public_url) as client:
        cookie = client.get("/login").headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure
    assert "httponly" in cookie


def test_failed_sign_ins_are_limited_per_account_with_a_wait(
    client: TestClient, kk: bootstrap.Kokemus, anna: str
) -> None:
    for _ in range(5):
        assert log_in(client, password="väärin-väärin").status_code == 401
    blocked = log_in(client)  # even the right password waits now
    assert blocked.status_code == 429
    assert "Liian monta epäonnistunutta kirjautumista" in blocked.text
    assert int(blocked.headers["retry-after"]) > 800
    # another user from the same address is not blocked by anna's failures
    access.create_user(kk.db, "ben", PASSWORD, admin=True)
    assert log_in(client, username="ben").status_code == 200
    # every failure is in the audit log, with the address
    rows, _ = audit.entries(kk.db, instance=True)
    assert sum(r["action"] == "signin.fail" for r in rows) == 5
    assert all(r["target"] == "anna" for r in rows if r["action"] == "signin.fail")


def test_failed_sign_ins_are_limited_per_address(
    client: TestClient, kk: bootstrap.Kokemus, anna: str
) -> None:
    for i in range(20):  # a password sprayed over many names from one address
        assert log_in(client, username=f"user{i}").status_code == 401
    assert log_in(client).status_code == 429


def test_the_failure_window_moves_on() -> None:
    now = [0.0]
    limit = FailureLimit(3, 60.0, clock=lambda: now[0])
    for _ in range(3):
        assert limit.wait("a") == 0.0
        limit.fail("a")
    assert limit.wait("a") == pytest.approx(60.0)
    now[0] = 30.0
    assert limit.wait("a") == pytest.approx(30.0)
    now[0] = 60.0
    assert limit.wait("a") == 0.0
    limit.fail("a")
    limit.clear("a")
    assert limit.wait("a") == 0.0


def _request(peer: str, forwarded: str | None = None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


def test_the_client_address_comes_from_a_proxy_only_when_trusted() -> None:
    trusted = [ip_network("10.0.0.0/8")]
    # no trusted proxies: the header is the client's own claim and is ignored
    assert client_address(_request("203.0.113.9", "1.2.3.4")) == "203.0.113.9"
    # a peer that is not a trusted proxy cannot name another address either
    assert client_address(_request("203.0.113.9", "1.2.3.4"), trusted) == "203.0.113.9"
    # through a trusted proxy: the nearest untrusted hop, so a forged left part is skipped
    assert client_address(_request("10.0.0.2", "6.6.6.6, 198.51.100.7"),
                          trusted) == "198.51.100.7"
    assert client_address(_request("10.0.0.2", "198.51.100.7, 10.0.0.5"),
                          trusted) == "198.51.100.7"
    assert client_address(_request("10.0.0.2"), trusted) == "10.0.0.2"


def test_a_bad_trusted_proxy_setting_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300' is not an address"):
        Settings(trusted_proxies="10.0.0.1, 10.0.0.300")


@pytest.fixture
def one_hashing_slot(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.BoundedSemaphore]:
    slot = threading.BoundedSemaphore(1)
    monkeypatch.setattr(access, "_hashing", slot)
    monkeypatch.setattr(access, "HASH_WAIT_SECONDS", 0.2)
    yield slot


def test_password_checks_wait_for_a_hashing_slot_and_are_refused_when_none_frees(
    client: TestClient, kk: bootstrap.Kokemus, anna: str,
    one_hashing_slot: threading.BoundedSemaphore
) -> None:
    assert one_hashing_slot.acquire()  # a check in progress holds the only slot
    try:
        with pytest.raises(access.Busy):
            access.authenticate(kk.db, "anna", PASSWORD)
        busy = log_in(client)
        assert busy.status_code == 503
        assert "Yritä uudelleen hetken kuluttua" in busy.text
        assert busy.headers["retry-after"] == "5"
    finally:
        one_hashing_slot.release()
    assert log_in(client).url.path == "/"  # the home page


def test_the_sweep_removes_timed_out_sessions_only(kk: bootstrap.Kokemus, anna: str) -> None:
    from kokemus.services import sessions as session_service

    old = session_service.start(kk.db, 1)
    fresh = session_service.start(kk.db, 1)
    with kk.db.begin() as conn:
        conn.execute(update(sessions).where(sessions.c.id == session_service._digest(old))
                     .values(seen_at=datetime.now(UTC) - timedelta(hours=9)))
    assert session_service.sweep(kk.db, idle=8 * 3600, absolute=7 * 86400) == 1
    assert session_rows(kk) == 1
    assert session_service.current(kk.db, fresh, idle=8 * 3600, absolute=7 * 86400) is not None


def test_tries_are_counted_before_the_password_is_checked() -> None:
    """A burst of tries sent at once: each is counted as it comes, before any hashing ends,
    so no more than the limit reach the password check."""
    from kokemus.web.pages import SignInLimits

    limits = SignInLimits(Settings(signin_failures_per_account=5,
                                   signin_failures_per_address=20))
    allowed = [limits.charge("admin", "203.0.113.9") == 0 for _ in range(40)]
    assert sum(allowed) == 5
    # a success takes its own try back and clears the name's count from that address
    limits.succeeded("admin", "203.0.113.9")
    assert limits.charge("admin", "203.0.113.9") == 0


def test_failures_from_elsewhere_do_not_lock_the_owner_out() -> None:
    from kokemus.web.pages import SignInLimits

    limits = SignInLimits(Settings())
    for _ in range(5):
        assert limits.charge("admin", "198.51.100.66") == 0
    assert limits.charge("admin", "198.51.100.66") > 0  # the attacker waits
    assert limits.charge("admin", "203.0.113.9") == 0  # the owner, at her desk, does not
    # spread over many addresses, a name still has a ceiling (ten times the limit)
    for i in range(60):
        limits.charge("admin", f"192.0.2.{i}")
    assert limits.charge("admin", "192.0.2.250") > 0
