"""The scores page broken down by an event property (property:carrier): the groups with
their n and intervals, small carriers pooled as "other", where it is worst, a filter, and
an unknown property refused with the known ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services import ingest
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from tests.analytics.test_scores import table_of
from tests.web.test_pages import anna, log_in  # noqa: F401  (the fixture)

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
# carrier: (promoters, passives, detractors); the two small ones pooled as "other"
CARRIERS = {"Kiito": (8, 4, 28), "Rahtisiili": (40, 10, 10), "Pakettiässä": (30, 10, 10),
            "Pikku": (2, 0, 1), "Mini": (1, 1, 0)}


def carried(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    """A delivery per customer with its carrier, and an answer it triggered."""
    events: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    i = 0
    for carrier, counts in CARRIERS.items():
        for nps, n in zip((10, 8, 2), counts, strict=True):
            for _ in range(n):
                at = START + timedelta(hours=i)
                events.append({"id": f"delivered-{i}", "type": "delivered",
                               "customer": f"c{i}", "channel": "web",
                               "occurred_at": at.isoformat(),
                               "properties": {"carrier": carrier}})
                rows.append({"id": f"r{i}", "customer": f"c{i}", "event_id": f"delivered-{i}",
                             "nps": nps, "started_at": at + timedelta(hours=2)})
                i += 1
    outcome = ingest.ingest_events(events, workspace, kk.events)
    assert outcome.accepted == len(events)
    responses.insert_many(kk.events, table_of(rows, workspace_id=workspace.id))


@pytest.fixture
def answered(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    carried(kk, workspace)


def text_of(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, f"nothing matches {pattern}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_by_carrier_with_other_and_where_it_is_worst(client: TestClient, anna: str,  # noqa: F811
                                                      answered: None) -> None:
    log_in(client)
    client.get("/language/en")
    html = client.get("/w/my-company/scores?by=property:carrier").text
    assert '<option value="property:carrier" selected>' in html
    table = text_of(html, r'id="breakdown"[^>]*>(.*?)</table>')
    assert "event property: carrier" in table
    kiito = text_of(html, r'<tr data-key="Kiito">(.*?)</tr>')
    assert "−50" in kiito and "n = 40" in kiito  # (8 - 28) / 40
    other = text_of(html, r'<tr data-key="other" data-pooled="2"[^>]*>(.*?)</tr>')
    assert "other (2 small groups)" in other and "n = 5" in other
    assert "too few answers" in other  # 5 answers: pooled, still too few to show
    worst = text_of(html, r'id="worst-nps"[^>]*>(.*?)</table>')
    assert worst.index("Kiito") < worst.index("Rahtisiili")
    assert "significantly worse" in worst.split("Rahtisiili")[0]
    # a group's name filters the page to it
    assert "where=property%3Acarrier%3DKiito" in html

    filtered = client.get("/w/my-company/scores?by=touchpoint&where=property:carrier%3DKiito")
    assert filtered.status_code == 200
    assert "n = 40" in text_of(filtered.text, r'id="card-nps"[^>]*>(.*?)</div>')

    # Finnish: the same groups, the labels in Finnish
    client.get("/language/fi")
    html = client.get("/w/my-company/scores?by=property:carrier").text
    assert "tapahtuman ominaisuus: carrier" in html
    assert "muut (2 pientä ryhmää)" in html and "merkitsevästi huonompi" in html


def test_unknown_property_is_said_with_the_known_ones(client: TestClient, anna: str,  # noqa: F811
                                                      answered: None) -> None:
    log_in(client)
    client.get("/language/en")
    page = client.get("/w/my-company/scores?by=property:colour&where=event:nope%3Dyes")
    assert page.status_code == 422
    errors = text_of(page.text, r'id="filter-errors"[^>]*>(.*?)</div>')
    assert "colour" in errors and "carrier" in errors
    assert "nope" in errors and "delivered" in errors
    # the page still shows the default breakdown
    assert '<option value="touchpoint" selected>' in page.text
    assert client.get("/w/my-company/scores?by=" + "x" * 5000).status_code == 422


def test_the_api_and_cli_agree(client: TestClient, answered: None,
                               auth: dict[str, str]) -> None:
    answer = client.get("/api/v1/scores", params={"by": "property:carrier"}, headers=auth)
    assert answer.status_code == 200
    body = answer.json()
    groups = {g["key"]: g for g in body["groups"]}
    assert groups["Kiito"]["nps"]["value"] == -50 and groups["other"]["pooled"] == 2
    assert body["worst"]["nps"][0]["key"] == "Kiito" and body["worst"]["nps"][0]["worse"]
    one = client.get("/api/v1/scores", params={"where": "property:carrier=Kiito"},
                     headers=auth).json()
    assert one["overall"]["nps"]["n"] == 40
    for bad in ({"by": "property:colour"}, {"by": "colour"}, {"where": "carrier=Kiito"},
                {"where": "event:delivered=maybe"}, {"by": "property:" + "x" * 100}):
        refused = client.get("/api/v1/scores", params=bad, headers=auth)
        assert refused.status_code == 422, bad
    assert "carrier" in client.get("/api/v1/scores", params={"by": "property:colour"},
                                   headers=auth).json()["message"]
