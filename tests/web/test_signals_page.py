"""The warning signals page, the API and the CLI over the real stores."""

from __future__ import annotations

from fastapi.testclient import TestClient

from kokemus.bootstrap import Kokemus
from kokemus.services.workspaces import ActiveWorkspace
from tests.web.test_pages import anna, log_in  # noqa: F401  (the fixture)


def test_page_in_both_languages(client: TestClient, workspace: ActiveWorkspace,
                                anna: str) -> None:  # noqa: F811
    log_in(client)
    client.get("/language/en")
    page = client.get("/w/my-company/signals")
    assert page.status_code == 200 and "<script" not in page.text
    text = " ".join(page.text.split())
    # the starter workspace has no social channel: that one fires, serious
    social = text.split('id="signal-no_social_listening"')[1].split("</article>")[0]
    assert 'data-fired="yes"' in page.text.split('id="signal-no_social_listening"')[1][:40]
    assert "Serious" in social and "Nothing was ingested from social media" in social
    assert "2 of them fire now" not in text and "1 of them fire now" in text
    client.get("/language/fi")
    fi = client.get("/w/my-company/signals").text
    assert "Viisi varoitusmerkkiä" in fi and "Sosiaalista mediaa ei kuunnella" in fi


def test_api(client: TestClient, kk: Kokemus, workspace: ActiveWorkspace,
                     auth: dict[str, str]) -> None:
    answer = client.get("/api/v1/signals", headers=auth).json()
    assert [s["id"] for s in answer["signals"]] == [
        "complaints_rising", "handoff_stalls", "channel_inconsistency", "no_social_listening",
        "kpis_unlinked"]
    assert answer["fired"] == 1 and answer["signals"][3]["severity"] == "high"
    assert client.get("/api/v1/signals", params={"as_of": "9999-01-01"},
                      headers=auth).status_code == 422
    assert client.get("/api/v1/signals").status_code == 401
