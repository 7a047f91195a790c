"""The rules pages: the list, and the editor whose Preview replays a rule over the last 30
days without saving (as `kokemus rules test`) and whose Save is a new workspace version."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from kokemus import bootstrap
from kokemus.domain.roles import Role
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import actions, workspace_versions
from kokemus.workspace import document
from tests.web.test_pages import PASSWORD, csrf, log_in

SHOP = Path(document.__file__).parents[1] / "demo" / "appliance_shop.yaml"
EDITOR = "/w/kodinkone/rules/damaged-delivery"


@pytest.fixture
def shop(kk: bootstrap.Kokemus) -> ActiveWorkspace:
    workspace_service.apply(kk.db, document.load(SHOP))
    active = workspace_service.get(kk.db, "kodinkone")
    now = datetime.now(UTC)
    ingest_events([{"id": f"d{i}", "type": "delivery_damaged", "customer": f"c{i}",
                    "channel": "web", "properties": {"order": f"o{i}"},
                    "occurred_at": (now - timedelta(days=i * 3 + 1)).isoformat()}
                   for i in range(4)]  # d0..d3: 1, 4, 7 and 10 days ago
                  + [{"id": "old", "type": "delivery_damaged", "customer": "c9",
                      "channel": "web", "properties": {"order": "o9"},
                      "occurred_at": (now - timedelta(days=40)).isoformat()}],
                  active, kk.events)
    for role in (Role.EDITOR, Role.ANALYST, Role.AGENT):
        access.create_user(kk.db, role.value, PASSWORD)
        access.grant(kk.db, role.value, "kodinkone", role)
    return active


def textarea(html: str) -> str:
    found = re.search(r'<textarea id="rule-yaml"[^>]*>\n(.*?)</textarea>', html, re.S)
    assert found, "the editor has no YAML box"
    return unescape(found.group(1))


def post(client: TestClient, path: str, text: str, action: str = "") -> object:
    page = client.get(EDITOR).text
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version
    return client.post(path + action, data={"text": text, "csrf": csrf(page),
                                            "version": version.group(1)},
                       follow_redirects=False)


def written(kk: bootstrap.Kokemus) -> tuple[int, int]:
    with kk.db.connect() as conn:
        return (conn.execute(select(func.count()).select_from(actions)).scalar_one(),
                conn.execute(select(func.count()).select_from(workspace_versions)).scalar_one())


def test_the_list_shows_the_demo_rule_and_the_nav_links_it(
        client: TestClient, shop: ActiveWorkspace) -> None:
    log_in(client, username="analyst")
    page = client.get("/w/kodinkone/rules")
    assert page.status_code == 200
    assert 'href="/w/kodinkone/rules"' in page.text  # the workspace nav
    row = re.search(r'<tr id="rule-damaged-delivery">(.*?)</tr>', page.text, re.S)
    assert row
    assert "Kuljetusvaurio" in row.group(1) and "event: event delivery_damaged" in row.group(1)
    # the actions by their names in the reader's language
    assert "ilmoitus asiakkaalle, tapaus" in row.group(1) and "ei" in row.group(1)  # disabled


def test_preview_lists_what_the_disabled_rule_would_have_fired_and_writes_nothing(
        client: TestClient, kk: bootstrap.Kokemus, shop: ActiveWorkspace) -> None:
    log_in(client, username="analyst")  # an analyst may preview, not save
    page = client.get(EDITOR)
    assert page.status_code == 200 and 'formaction="/w/kodinkone/rules/damaged-delivery/' \
        'preview"' in page.text
    assert "Tallenna</button>" not in page.text
    text = textarea(page.text)
    assert "enabled: false" in text
    before = written(kk)
    answer = post(client, EDITOR, text, "/preview")
    assert answer.status_code == 200  # type: ignore[attr-defined]
    html = answer.text  # type: ignore[attr-defined]
    summary = re.search(r'<p id="preview-summary">(.*?)</p>', html, re.S)
    assert summary and "olisi lauennut 4 kertaa" in summary.group(1)
    assert "8 toimenpidettä" in summary.group(1)  # notify and case, four times
    fired = re.findall(r'<tr class="fired">(.*?)</tr>', html, re.S)
    assert len(fired) == 4  # the 40-day-old one is outside the 30 days
    assert [re.search(r"<code[^>]*>(\w+)</code>", row).group(1)  # type: ignore[union-attr]
            for row in fired] == ["d3", "d2", "d1", "d0"]  # oldest first
    damaged = shop.document.event_name("delivery_damaged", "fi")  # the event by its name
    assert damaged != "delivery_damaged"
    assert all("ilmoitus asiakkaalle, tapaus" in row and damaged in row for row in fired)
    assert ">c3<" in fired[0]
    assert written(kk) == before  # no action rows, no new version
    assert textarea(html) == text  # the edit stays in the box


def test_preview_shows_the_edit_not_the_saved_rule(
        client: TestClient, kk: bootstrap.Kokemus, shop: ActiveWorkspace) -> None:
    log_in(client, username="editor")
    text = textarea(client.get(EDITOR).text)
    edited = text.replace("event: delivery_damaged",
                          "event: delivery_damaged\n  where:\n    order: o1")
    html = post(client, EDITOR, edited, "/preview").text  # type: ignore[attr-defined]
    assert len(re.findall(r'<tr class="fired">', html)) == 1
    assert "where" not in workspace_service.get(kk.db, "kodinkone").document.rules[0] \
        .when.model_dump(exclude_defaults=True)


def test_save_creates_a_version_by_the_author_and_the_rule_validates(
        client: TestClient, kk: bootstrap.Kokemus, shop: ActiveWorkspace) -> None:
    log_in(client, username="editor")
    text = textarea(client.get(EDITOR).text).replace("enabled: false", "enabled: true")
    answer = post(client, EDITOR, text)
    assert answer.status_code == 303  # type: ignore[attr-defined]
    now = workspace_service.get(kk.db, "kodinkone")
    assert now.version == shop.version + 1
    assert now.document.rules[0].enabled and now.document.rules[0].id == "damaged-delivery"
    with kk.db.connect() as conn:
        by = conn.execute(select(workspace_versions.c.applied_by)
                          .where(workspace_versions.c.version == now.version)
                          .where(workspace_versions.c.workspace_id == now.id)).scalar_one()
    assert by == "editor"
    page = client.get(EDITOR).text
    assert "Tallennettu työtilan versioksi" in page, page[page.find("<main"):][:1500]
    assert "enabled: false" not in textarea(page)  # true is the default: export omits it
    # a new rule through /rules/new
    new = client.get("/w/kodinkone/rules/new")
    assert new.status_code == 200
    made = post(client, "/w/kodinkone/rules/new",
                textarea(new.text).replace("rule-1", "welcome"))
    assert made.status_code == 303, made.text[made.text.find("problems"):][:800]  # type: ignore[attr-defined]
    assert made.headers["location"] == "/w/kodinkone/rules/welcome"  # type: ignore[attr-defined]
    ids = [r.id for r in workspace_service.get(kk.db, "kodinkone").document.rules]
    assert ids[0] == "damaged-delivery" and ids[-1] == "welcome"  # added at the end


@pytest.mark.parametrize(("change", "field", "action"), [
    (("department: logistics", "department: nowhere"), "actions[1].department", ""),
    (("sla: 4h", "sla: soon"), "sla", "/preview"),
    (("event: delivery_damaged", "event: delivery_damaged\n  bogus: 1"), "bogus", ""),
    (("id: damaged-delivery", "name: x"), "id", "/preview"),
])
def test_a_bad_rule_is_a_4xx_naming_the_field_and_nothing_is_saved(
        client: TestClient, kk: bootstrap.Kokemus, shop: ActiveWorkspace,
        change: tuple[str, str], field: str, action: str) -> None:
    log_in(client, username="editor")
    text = textarea(client.get(EDITOR).text)
    before = written(kk)
    answer = post(client, EDITOR, text.replace(*change), action)
    assert answer.status_code == 422, answer.text  # type: ignore[attr-defined]
    problems = re.search(r'id="problems">(.*?)</div>',
                         answer.text, re.S)  # type: ignore[attr-defined]
    assert problems and field in problems.group(1)
    assert written(kk) == before


def test_broken_yaml_is_a_422_with_its_line(
        client: TestClient, kk: bootstrap.Kokemus, shop: ActiveWorkspace) -> None:
    log_in(client, username="editor")
    for action in ("", "/preview"):
        answer = post(client, EDITOR, "id: x\nwhen: [\n", action)
        assert answer.status_code == 422  # type: ignore[attr-defined]
        assert "not YAML" in answer.text  # type: ignore[attr-defined]


def test_a_form_without_its_token_changes_nothing(
        client: TestClient, kk: bootstrap.Kokemus, shop: ActiveWorkspace) -> None:
    log_in(client, username="editor")
    before = written(kk)
    answer = client.post(EDITOR, data={"text": "id: x", "csrf": "wrong"})
    assert answer.status_code == 400
    assert written(kk) == before


def test_an_agent_gets_403(client: TestClient, shop: ActiveWorkspace) -> None:
    log_in(client, username="agent")
    for path in ("/w/kodinkone/rules", EDITOR, "/w/kodinkone/rules/new"):
        assert client.get(path).status_code == 403
    token = csrf(client.get("/login").text)
    for action in ("", "/preview"):
        answer = client.post(EDITOR + action, data={"text": "id: x", "csrf": token})
        assert answer.status_code == 403
        assert "Kuljetusvaurio" not in answer.text
    assert 'href="/w/kodinkone/rules"' not in client.get("/w/kodinkone").text


def test_an_unknown_rule_is_not_found(client: TestClient, shop: ActiveWorkspace) -> None:
    log_in(client, username="editor")
    assert client.get("/w/kodinkone/rules/nope").status_code == 404
