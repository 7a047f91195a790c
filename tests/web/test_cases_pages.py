"""The case inbox and case page through the app's HTTP interface over the real stores: who
sees which inbox, an agent working a case of their department (and no other), the state
buttons along the state machine, the history with who and when, the customer's timeline
beside the case, the recovery report and the departments an owner gives an agent."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.domain.roles import Role
from kokemus.services import access
from kokemus.services import cases as service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_pages import PASSWORD, csrf, log_in
from tests.web.test_surveys_pages import response, store

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def open_case(kk: bootstrap.Kokemus, ws: ActiveWorkspace, department: str, title: str,
              customer: str, action: str) -> None:
    with kk.db.begin() as conn:
        service.open_case(conn, ws.id, department=department, title=title, customer=customer,
                          account=None, priority="high", rule="damaged", cause="e1",
                          action_id=action, sla_due_at=datetime.now(UTC) + timedelta(hours=4),
                          now=datetime.now(UTC) - timedelta(hours=1))


@pytest.fixture
def staff(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> ActiveWorkspace:
    for name, role in (("olli", Role.OWNER), ("aino", Role.AGENT), ("pekka", Role.AGENT),
                       ("ana", Role.ANALYST)):
        access.create_user(kk.db, name, PASSWORD)
        access.grant(kk.db, name, workspace.slug, role)
    service.set_departments(kk.db, workspace, "aino", ["logistics"])
    service.set_departments(kk.db, workspace, "pekka", ["customer-service"])
    ingest_events([
        {"id": "e-order", "type": "order_placed", "customer": "c1", "channel": "web",
         "occurred_at": T0.isoformat()},
        {"id": "e-delivered", "type": "delivered", "customer": "c1", "channel": "web",
         "occurred_at": (T0 + timedelta(days=3)).isoformat()}], workspace, kk.events)
    store(kk, workspace, [response(1, nps=2, comment="Pesukone tuli rikki")])
    open_case(kk, workspace, "logistics", "Pesukone saapui rikki", "c1", "a1")
    open_case(kk, workspace, "customer-service", "Soittopyyntö laskusta", "c2", "a2")
    return workspace


def numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="case-(\d+)">', page)]


def post(client: TestClient, path: str, **data: str) -> tuple[int, str]:
    token = csrf(client.get("/w/my-company/cases").text)
    answer = client.post(path, data={"csrf": token, **data}, follow_redirects=True)
    return answer.status_code, html.unescape(answer.text)


def test_each_inbox_shows_what_the_role_reaches(client: TestClient,
                                                staff: ActiveWorkspace) -> None:
    seen = {}
    for name in ("olli", "ana", "aino", "pekka"):
        log_in(client, username=name)
        page = client.get("/w/my-company/cases")
        assert page.status_code == 200
        seen[name] = numbers(page.text)
        tabs = re.findall(r'id="tab-([a-z-]+)"', page.text)
        if name == "aino":
            assert tabs == ["mine", "logistics", "all"]
            assert "Soittopyyntö" not in page.text
        if name == "ana":  # reads every case, opens none, and reads the recovery report
            assert 'method="post" action="/w/my-company/cases"' not in page.text
            assert "/w/my-company/cases/recovery" in page.text
        elif name != "olli":
            assert "/w/my-company/cases/recovery" not in page.text
    assert seen == {"olli": [2, 1], "ana": [2, 1], "aino": [1], "pekka": [2]}
    log_in(client, username="aino")
    # another department's case does not exist for her, read or written
    assert client.get("/w/my-company/cases/2").status_code == 404
    assert post(client, "/w/my-company/cases/2/notes", body="x")[0] == 404
    assert client.get("/w/my-company/cases?view=customer-service").status_code == 422
    assert numbers(client.get("/w/my-company/cases?view=customer-service").text) == [1]
    assert client.get("/w/my-company/cases/x1").status_code == 404
    assert client.get("/w/my-company/cases/99").status_code == 404


def test_an_agent_works_a_case_of_her_department(client: TestClient,
                                                 staff: ActiveWorkspace,
                                                 kk: bootstrap.Kokemus) -> None:
    log_in(client, username="aino")
    page = client.get("/w/my-company/cases/1")
    assert page.status_code == 200
    assert "Tapaus 1: Pesukone saapui rikki" in page.text
    # the customer's timeline and answer beside the case
    assert 'id="e-e-order"' in page.text and 'id="e-e-delivered"' in page.text
    assert "Pesukone tuli rikki" in page.text and 'href="/w/my-company/responses/r001"' in page.text
    assert "Ota itselle" in page.text
    assert "Merkitse ratkaistuksi" not in page.text  # a new case is assigned first

    status, text = post(client, "/w/my-company/cases/1/assign")
    assert status == 200 and "Tapaus 1 on nyt käyttäjällä aino." in text
    assert re.search(r'id="case-state">Vastuutettu<', text)
    status, text = post(client, "/w/my-company/cases/1/state", state="resolved")
    assert status == 409 and "Tilasta Vastuutettu ei voi siirtyä tilaan Ratkaistu." in text
    for state in ("in_progress", "waiting", "in_progress"):
        assert post(client, "/w/my-company/cases/1/state", state=state)[0] == 200
    status, text = post(client, "/w/my-company/cases/1/notes",
                        body="Uusi kone lähtee tänään, asennus huomenna.")
    assert status == 200 and "Uusi kone lähtee tänään" in text
    assert post(client, "/w/my-company/cases/1/notes", body="   ")[0] == 422
    status, text = post(client, "/w/my-company/cases/1/state", state="resolved")
    assert status == 200 and "Avaa uudelleen" in text and "Sulje" in text
    history = re.findall(r'<span class="history-who">([^<]+)</span>\s*'
                         r'<span class="history-what">([^<]+)</span>', text)
    assert history == [
        ("sääntö damaged", "avasi tapauksen"), ("aino", "antoi tapauksen käyttäjälle aino"),
        ("aino", "vaihtoi tilaksi Vastuutettu"), ("aino", "vaihtoi tilaksi Työn alla"),
        ("aino", "vaihtoi tilaksi Odottaa asiakasta"), ("aino", "vaihtoi tilaksi Työn alla"),
        ("aino", "kirjoitti"), ("aino", "vaihtoi tilaksi Ratkaistu")]
    case = service.get(kk.db, staff.id, 1)
    assert (case.state, case.assignee) == ("resolved", "aino")
    # a form without its token changes nothing
    answer = client.post("/w/my-company/cases/1/state", data={"state": "closed", "csrf": "x"})
    assert answer.status_code == 400 and service.get(kk.db, staff.id, 1).state == "resolved"


def test_who_may_work_and_open_cases(client: TestClient, staff: ActiveWorkspace,
                                     kk: bootstrap.Kokemus) -> None:
    log_in(client, username="ana")
    page = client.get("/w/my-company/cases/1").text
    assert "Pesukone saapui rikki" in page and "Ota itselle" not in page
    assert 'name="body"' not in page
    assert post(client, "/w/my-company/cases/1/notes", body="x")[0] == 403
    assert client.get("/w/my-company/cases/recovery").status_code == 200
    log_in(client, username="aino")
    assert client.get("/w/my-company/cases/recovery").status_code == 403
    # she opens cases for her own department only
    page = client.get("/w/my-company/cases").text
    assert re.findall(r'<option value="([a-z-]+)"', page.split('name="department"')[1]
                      .split("</select>")[0]) == ["logistics"]
    status, text = post(client, "/w/my-company/cases", department="logistics",
                        title="Asiakas pyytää hyvitystä", customer="c3", priority="urgent")
    assert status == 200 and "Tapaus 3 avattiin." in text
    status, text = post(client, "/w/my-company/cases", department="sales", title="x")
    assert status == 422 and "you do not work for 'sales'" in text
    assert post(client, "/w/my-company/cases", department="logistics", title=" ")[0] == 422
    log_in(client, username="olli")
    page = client.get("/w/my-company/cases/3").text
    assert '<option value="aino">' in page and '<option value="pekka">' not in page
    status, text = post(client, "/w/my-company/cases/3/assign", assignee="aino")
    assert status == 200 and service.get(kk.db, staff.id, 3).assignee == "aino"
    status, text = post(client, "/w/my-company/cases/3/assign", assignee="pekka")
    assert status == 422 and "does not work for department 'logistics'" in text


def test_an_owner_gives_an_agent_her_departments(client: TestClient, staff: ActiveWorkspace,
                                                 kk: bootstrap.Kokemus) -> None:
    log_in(client, username="olli")
    page = client.get("/w/my-company/members").text
    assert 'action="/w/my-company/members/aino/departments"' in page
    token = csrf(page)
    answer = client.post("/w/my-company/members/aino/departments",
                         data={"csrf": token, "department": ["logistics", "customer-service"]})
    assert answer.status_code == 200
    assert "aino käsittelee nyt näiden osastojen tapauksia: customer-service, logistics" in (
        answer.text)
    bad = client.post("/w/my-company/members/aino/departments",
                      data={"csrf": token, "department": ["kitchen"]})
    assert bad.status_code == 422 and "no department 'kitchen'" in html.unescape(bad.text)
    log_in(client, username="aino")
    assert numbers(client.get("/w/my-company/cases").text) == [2, 1]


def test_the_recovery_page_shows_n_and_intervals(client: TestClient, staff: ActiveWorkspace,
                                                 kk: bootstrap.Kokemus) -> None:
    log_in(client, username="ana")
    page = client.get("/w/my-company/cases/recovery")
    assert page.status_code == 200
    # c1 answered 2 before the case was opened (now - 1 h): a detractor without a case yet
    assert re.search(r'id="recovery-without_case">\s*<th scope="row">Ei tapausta</th>\s*'
                     r'<td class="num">1</td>', page.text)
    assert "(n = 0)" in page.text
    assert client.get("/w/my-company/cases/recovery?from=2026-13-01").status_code == 422
    assert client.get("/w/my-company/cases/recovery?from=2026-03-05&to=2026-03-01"
                      ).status_code == 422
