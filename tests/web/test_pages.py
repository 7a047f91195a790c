"""The web pages over the real stores, through the app's HTTP interface."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace

PASSWORD = "salasana123"


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the form carries no token"
    return found.group(1)


def log_in(client: TestClient, username: str = "anna", password: str = PASSWORD,
           next_path: str = "/") -> httpx.Response:
    token = csrf(client.get("/login").text)
    answer: httpx.Response = client.post(
        "/login", data={"username": username, "password": password, "csrf": token,
                        "next": next_path})
    return answer


@pytest.fixture
def anna(kk: bootstrap.Kokemus) -> str:
    """An instance administrator: she sees every workspace (roles: tests/web/test_roles.py)."""
    access.create_user(kk.db, "anna", PASSWORD, admin=True)
    return "anna"


def events(n: int) -> list[dict[str, object]]:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    items: list[dict[str, object]] = []
    for i in range(n):
        for kind, after in (("order_placed", timedelta(minutes=i)),
                            ("delivered", timedelta(hours=30 + i))):
            items.append({"id": f"{kind}-{i}", "type": kind, "customer": f"c{i}",
                          "channel": "web", "occurred_at": (start + after).isoformat()})
    return items


def test_pages_need_a_login(client: TestClient, workspace: ActiveWorkspace) -> None:
    for path in ("/", "/w/my-company"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
    assert client.get("/w/my-company", follow_redirects=False).headers["location"] == (
        "/login?next=/w/my-company")
    page = client.get("/w/my-company")
    assert page.url.path == "/login"
    assert "Kirjaudu sisään" in page.text
    assert "Ostopolku" not in page.text


def test_wrong_password_says_so(client: TestClient, anna: str) -> None:
    answer = log_in(client, password="väärä-salasana")
    assert answer.status_code == 401
    assert "Väärä käyttäjätunnus tai salasana" in answer.text
    assert 'value="anna"' in answer.text
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    unknown = log_in(client, username="nobody")
    assert unknown.status_code == 401


def test_a_form_without_its_token_is_refused(client: TestClient, anna: str) -> None:
    client.get("/login")
    answer = client.post("/login", data={"username": "anna", "password": PASSWORD,
                                         "csrf": "forged"})
    assert answer.status_code == 400
    assert "Lomake ehti vanhentua" in answer.text
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")


def test_session_cookie_is_signed_http_only_and_lax(client: TestClient, anna: str) -> None:
    answer = client.get("/login")
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("kokemus_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "default-src 'self'" in answer.headers["content-security-policy"]


def test_login_leads_to_the_page_asked_for_and_logout_ends_it(
    client: TestClient, anna: str, workspace: ActiveWorkspace
) -> None:
    answer = log_in(client, next_path="/w/my-company")
    assert answer.url.path == "/w/my-company"
    assert "anna" in answer.text
    # An absolute URL as the target is ignored: no open redirect.
    client.cookies.clear()
    assert log_in(client, next_path="https://evil.example/").url.path == "/"  # home
    page = client.get("/w/my-company")
    bye = client.post("/logout", data={"csrf": csrf(page.text)})
    assert bye.url.path == "/login"
    assert "Olet kirjautunut ulos" in bye.text
    assert client.get("/w/my-company").url.path == "/login"


def test_empty_state_before_any_workspace(client: TestClient, anna: str) -> None:
    page = log_in(client)
    assert page.status_code == 200
    assert "Työtilaa ei ole vielä otettu käyttöön" in page.text
    assert "kokemus apply workspace.yaml" in page.text


def test_overview_shows_promise_journey_and_events(
    client: TestClient, anna: str, workspace: ActiveWorkspace, kk: bootstrap.Kokemus
) -> None:
    outcome = ingest_events(events(7), workspace, kk.events)
    assert outcome.accepted == 14
    page = log_in(client, next_path="/w/my-company")
    assert page.url.path == "/w/my-company"
    html = page.text
    # value proposition, promise, its department, channel and commitment
    assert "Toimitamme tilauksesi nopeasti ja kerromme, missä se menee." in html
    assert "Toimitus kahdessa päivässä" in html
    assert "Toimitettu 48 tunnin kuluessa tilauksesta" in html
    assert "48\u00a0h kuluessa" in html
    assert "Logistiikka" in html and "Verkkokauppa" in html
    # the journey, its stages and touchpoints with owner, category, core and required
    assert "Ostopolku" in html and "Osto" in html and "Vastaanotto" in html
    assert 'id="tp-order"' in html and 'id="tp-delivery"' in html
    assert "Tilaus" in html and "Toimitus" in html
    assert "Luotettavuus" in html and "Tuotteen ominaisuudet ja helppous" in html
    assert "Ydinkokemus" in html and "Pakollinen" in html
    # counts: 14 events, no customers records yet
    assert re.search(r'id="stat-events"><span class="stat-value">14<', html)
    assert re.search(r'id="stat-customers"><span class="stat-value">0<', html)
    # the last 10 events, newest first
    table = html.split('class="events striped"')[1]
    assert table.count("<tr>") == 11  # header + 10 rows
    rows = re.findall(r'<td class="num">(\d+)</td>', table)
    assert rows == [str(seq) for seq in range(14, 4, -1)]
    assert ">c6<" in table and ">c1<" not in table  # c1's events are older than the last 10
    assert "10 uusinta tapahtumaa, yhteensä 14" in html


def test_no_events_yet_is_said(client: TestClient, anna: str,
                               workspace: ActiveWorkspace) -> None:
    html = log_in(client, next_path="/w/my-company").text
    assert "Tapahtumia ei ole vielä vastaanotettu" in html
    assert re.search(r'id="stat-events"><span class="stat-value">0<', html)


def test_language_switch_changes_the_strings(
    client: TestClient, anna: str, workspace: ActiveWorkspace
) -> None:
    log_in(client)
    finnish = client.get("/w/my-company").text
    assert "Asiakaslupaukset" in finnish and "Arvolupaus" in finnish
    assert '<html lang="fi"' in finnish
    english = client.get("/language/en", params={"next": "/w/my-company"})
    assert english.url.path == "/w/my-company"
    html = english.text
    assert '<html lang="en"' in html
    assert "Customer promises" in html and "Value proposition" in html
    assert "Customer journeys" in html and "Owning department" in html
    assert "Delivered within two days" in html and "within 48\u00a0h" in html
    assert "Purchase journey" in html and "Reliability" in html
    assert "Asiakaslupaukset" not in html
    back = client.get("/language/fi", params={"next": "/w/my-company"})
    assert "Asiakaslupaukset" in back.text
    # an unknown language and a foreign target change nothing
    odd = client.get("/language/xx", params={"next": "//evil.example/"}, follow_redirects=False)
    assert odd.headers["location"] == "/"
    assert "set-cookie" not in odd.headers


def test_the_users_own_language_is_the_default(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "emma", PASSWORD, language="en")
    access.grant(kk.db, "emma", workspace.slug, "agent")
    html = log_in(client, username="emma", next_path="/w/my-company").text
    assert "Customer promises" in html
    assert "Signed in as emma" in html


def test_unknown_workspace_and_selector(
    client: TestClient, anna: str, workspace: ActiveWorkspace, kk: bootstrap.Kokemus
) -> None:
    log_in(client)
    missing = client.get("/w/no-such")
    assert missing.status_code == 404
    assert "Työtilaa ei löydy" in missing.text
    assert "workspace-picker" not in client.get("/w/my-company").text  # one workspace: none
    second = workspace.document.model_copy(update={"workspace": "second-shop"})
    workspace_service.apply(kk.db, second)
    html = client.get("/w/second-shop").text
    assert "workspace-picker" in html
    assert 'href="/w/my-company"' in html and 'href="/w/second-shop"' in html


def test_vendored_css_is_served(client: TestClient) -> None:
    pico = client.get("/static/vendor/pico.min.css")
    assert pico.status_code == 200 and "Pico CSS" in pico.text
    assert client.get("/static/kokemus.css").status_code == 200
