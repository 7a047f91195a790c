"""Dates and times in the reader's language and the workspace's time zone, and event types
by the workspace's names for them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.services import workspaces
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import i18n
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_pages import anna, log_in  # noqa: F401

HELSINKI = ZoneInfo("Europe/Helsinki")


def test_a_day_and_a_moment_in_each_language() -> None:
    winter = datetime(2026, 3, 2, 7, 5, 9, tzinfo=UTC)
    assert i18n.day(date(2026, 3, 2), "fi") == "2.3.2026"
    assert i18n.day(date(2026, 12, 31), "en") == "31 Dec 2026"
    assert i18n.moment(winter, "fi", HELSINKI) == "2.3.2026 klo 09.05"
    assert i18n.moment(winter, "en", HELSINKI) == "2 Mar 2026, 09:05"
    assert i18n.moment(winter, "fi", seconds=True) == "2.3.2026 klo 07.05.09"  # UTC
    # summer time, and a moment whose day is another one in the zone
    late = datetime(2026, 6, 30, 22, 30, tzinfo=UTC)
    assert i18n.moment(late, "fi", HELSINKI) == "1.7.2026 klo 01.30"
    assert i18n.moment(late.replace(tzinfo=None), "en") == "30 Jun 2026, 22:30"  # naive: UTC


def test_the_overview_shows_times_in_the_workspace_zone_and_events_by_name(
    client: TestClient, anna: str, kk: bootstrap.Kokemus,  # noqa: F811
) -> None:
    starter = document.load(STARTER)
    doc = starter.model_copy(update={
        "events": {"delivered": {"fi": "Toimitettu perille", "en": "Delivered home"}},
        "business_hours": starter.business_hours.model_copy(
            update={"timezone": "America/New_York"})})
    workspaces.apply(kk.db, doc, source="test")
    active: ActiveWorkspace = workspaces.get(kk.db, "my-company")
    ingest_events([
        {"id": "d1", "type": "delivered", "customer": "c1", "channel": "web",
         "occurred_at": "2026-03-02T03:30:00+00:00"},
        {"id": "o1", "type": "order_placed", "customer": "c1", "channel": "web",
         "occurred_at": "2026-03-01T12:00:00+00:00"}], active, kk.events)

    log_in(client)
    html = client.get("/w/my-company").text
    table = html.split('class="events striped"')[1].split("</table>")[0]
    # 03:30 UTC is the evening before in New York (UTC-5 in March)
    assert "1.3.2026 klo 22.30" in table and "1.3.2026 klo 07.00" in table
    assert "Toimitettu perille" in table and ">delivered<" not in table
    assert "order_placed" in table  # a type without a name shows as itself
    assert "Ajat aikavyöhykkeellä America/New_York" in html
    # a commitment measured between the two events names them the same way
    commitments = html.split('class="commitments"')[1].split("</table>")[0]
    assert "tapahtumasta order_placed tapahtumaan Toimitettu perille" in commitments

    client.get("/language/en")
    html = client.get("/w/my-company").text
    assert "1 Mar 2026, 22:30" in html and "Delivered home" in html
    assert "Times in America/New_York" in html
