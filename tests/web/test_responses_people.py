"""Responses name their customer (from the people store) and open the customer's timeline;
an agent, who may view answers and timelines, sees the same, and nobody sees another
workspace's people."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.domain.events import Customer
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people
from tests.web.test_pages import log_in
from tests.web.test_surveys_pages import response, store


@pytest.fixture
def answered(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id="c1", email="aino@example.fi", name="Aino Virtanen", language="fi"),
        Customer(id="c2", email="bo@example.fi", language="fi"),  # no name
    ], datetime(2026, 3, 1, tzinfo=UTC))
    store(kk, workspace, [response(1, nps=9, comment="Hyvin meni"),
                          response(2, nps=3, comment="Myöhässä"),
                          response(3, nps=7)])  # c3: not in the people store


def customer_cells(html: str) -> dict[str, str]:
    return {rid: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for rid, cell in re.findall(
                r'<tr id="r-(r\d+)">.*?<td class="customer">(.*?)</td>', html, re.S)}


@pytest.mark.parametrize("role", ["agent", "analyst"])
def test_responses_show_the_name_and_open_the_timeline(
    client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace, answered: None,
    role: str
) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, role)
    log_in(client)
    html = client.get("/w/my-company/responses").text
    cells = customer_cells(html)
    assert cells == {"r001": "Aino Virtanen c1", "r002": "c2", "r003": "c3"}
    link = re.search(r'<td class="customer"><a href="([^"]+)" title="([^"]+)">Aino Virtanen</a>',
                     html)
    assert link and link.group(1) == "/w/my-company/customers/c1"
    assert link.group(2) == "Avaa asiakkaan aikajana"
    timeline = client.get(link.group(1))
    assert timeline.status_code == 200 and "c1" in timeline.text
    detail = client.get("/w/my-company/responses/r001").text
    assert re.search(r'id="customer-link">Aino Virtanen</a> <small class="muted">\(c1\)',
                     detail)


def test_names_stay_in_their_workspace(kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
                                       answered: None) -> None:
    assert people.names(kk.db, workspace.id, ["c1", "c2", "c9"]) == {"c1": "Aino Virtanen"}
    assert people.names(kk.db, workspace.id + 1, ["c1"]) == {}
    assert people.names(kk.db, workspace.id, []) == {}
