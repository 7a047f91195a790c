"""Survey triggers over real stores: events ingested into DuckDB become planned invitations
in the app store (SQLite, or PostgreSQL with KOKEMUS_TEST_DATABASE_URL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from kokemus.bootstrap import Kokemus
from kokemus.engine.triggers import draw, plan
from kokemus.services import ingest
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.tables import invitations, trigger_cursors
from kokemus.workspace import document
from tests.conftest import STARTER

DELIVERED = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # 12:00 in Helsinki


def event(ident: str, customer: str, *, type: str = "delivered",
          at: datetime = DELIVERED, **properties: Any) -> dict[str, Any]:
    return {"id": ident, "type": type, "customer": customer, "channel": "web",
            "occurred_at": at.isoformat(), "properties": properties}


def ingest_events(kk: Kokemus, ws: ActiveWorkspace, *events: dict[str, Any]) -> None:
    outcome = ingest.ingest_events(list(events), ws, kk.events)
    assert not outcome.rejected, outcome.rejected


def rows(kk: Kokemus, **where: Any) -> list[dict[str, Any]]:
    query = select(invitations).order_by(invitations.c.event_id)
    for column, value in where.items():
        query = query.where(invitations.c[column] == value)
    with kk.db.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def with_surveys(kk: Kokemus, tmp_path: Path, extra: str,
                 replace: tuple[str, str] | None = None) -> ActiveWorkspace:
    """The starter workspace with more surveys (YAML list items) applied as a new version."""
    text = STARTER.read_text(encoding="utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    path = tmp_path / "workspace.yaml"
    path.write_text(text + extra, encoding="utf-8")
    workspace_service.apply(kk.db, document.load(path))
    return workspace_service.get(kk.db, "my-company")


def test_a_delivery_plans_one_invitation_two_hours_later(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_events(kk, workspace, event("e1", "c1"),
                  event("e0", "c1", type="order_placed", at=DELIVERED - timedelta(days=1)))
    first = plan(kk, DELIVERED + timedelta(minutes=1))
    assert (first.events, first.matched, first.invited) == (2, 1, 1)
    [inv] = rows(kk)
    assert (inv["survey"], inv["customer"], inv["event_id"], inv["event_type"]) == (
        "after-delivery", "c1", "e1", "delivered")
    assert (inv["status"], inv["channel"], inv["touchpoint"], inv["attempts"]) == (
        "planned", "email", "delivery", 0)
    assert utc(inv["due_at"]) == DELIVERED + timedelta(hours=2)
    assert utc(inv["occurred_at"]) == DELIVERED

    again = plan(kk, DELIVERED + timedelta(minutes=2))  # nothing new after the cursor
    assert (again.events, again.invited) == (0, 0)
    assert len(rows(kk)) == 1


def test_planning_the_same_events_again_creates_nothing_twice(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_events(kk, workspace, event("e1", "c1"), event("e2", "c2"))
    assert plan(kk, DELIVERED).invited == 2
    with kk.db.begin() as conn:  # as if the cursor's commit had been lost
        conn.execute(delete(trigger_cursors))
    replanned = plan(kk, DELIVERED)
    assert (replanned.matched, replanned.invited, replanned.again) == (2, 0, 2)
    assert [r["event_id"] for r in rows(kk)] == ["e1", "e2"]
    # a retried ingest of the same event stores nothing and plans nothing
    ingest_events(kk, workspace, event("e1", "c1"))
    assert plan(kk, DELIVERED).invited == 0


def test_events_too_old_to_ask_about_are_not_invited(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    # link valid 14 days from the due time (2 h after the event)
    ingest_events(kk, workspace, event("old", "c1", at=DELIVERED - timedelta(days=15)),
                  event("recent", "c2", at=DELIVERED - timedelta(days=13)))
    done = plan(kk, DELIVERED)
    assert (done.matched, done.too_old, done.invited) == (2, 1, 1)
    assert [r["event_id"] for r in rows(kk)] == ["recent"]


def test_sampling_half_invites_about_half_the_same_way_every_time(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_surveys(kk, tmp_path, "", replace=("sample: 1.0", "sample: 0.5"))
    events = [event(f"ev-{i:04d}", f"c{i}") for i in range(1000)]
    ingest_events(kk, ws, *events)
    done = plan(kk, DELIVERED)
    chosen = [r["event_id"] for r in rows(kk)]
    assert 450 <= done.invited <= 550, done.invited
    assert done.invited + done.not_sampled == 1000
    # the SQL draw is the documented formula, so the choice can be reproduced outside
    assert chosen == sorted(e["id"] for e in events if draw("after-delivery", e["id"]) < 0.5)
    with kk.db.begin() as conn:  # start over: the same events are drawn again
        conn.execute(delete(invitations))
        conn.execute(delete(trigger_cursors))
    plan(kk, DELIVERED)
    assert [r["event_id"] for r in rows(kk)] == chosen


EXPRESS = """\
  - id: after-express
    name: {fi: Pikatoimitus, en: Express delivery}
    trigger:
      event: delivered
      where: {method: express, installed: true, items: 2}
      segments: [households]
      roles: [decider]
      delay: 1h
      channel: web
    questions:
      - {id: effort, type: ces, required: true}
"""


def test_where_segment_and_role_conditions(kk: Kokemus, workspace: ActiveWorkspace,
                                           tmp_path: Path) -> None:
    ws = with_surveys(kk, tmp_path, EXPRESS)
    ingest.ingest_customers([
        {"id": "ok", "segments": ["households", "vip"], "role": "decider"},
        {"id": "user", "segments": ["households"], "role": "user"},
        {"id": "firm", "segments": ["companies"], "role": "decider"},
    ], ws, kk.db)
    good = {"method": "express", "installed": True, "items": 2}
    ingest_events(
        kk, ws,
        event("match", "ok", **good),
        event("standard", "ok", **{**good, "method": "standard"}),
        event("not-installed", "ok", **{**good, "installed": False}),
        event("items-as-text", "ok", **{**good, "items": "2"}),  # a string is not the number
        event("no-props", "ok"),
        event("wrong-role", "user", **good),
        event("wrong-segment", "firm", **good),
        event("unknown-customer", "nobody", **good),
        event("other-type", "ok", type="order_placed", **good),
    )
    done = plan(kk, DELIVERED)
    express = rows(kk, survey="after-express")
    assert [r["event_id"] for r in express] == ["match"]
    assert express[0]["channel"] == "web"
    assert express[0]["touchpoint"] == "delivery"  # from the event, the survey names none
    assert utc(express[0]["due_at"]) == DELIVERED + timedelta(hours=1)
    assert done.not_targeted == 3  # wrong role, wrong segment, unknown customer
    # the starter survey has no conditions: every delivered event is invited
    assert len(rows(kk, survey="after-delivery")) == 8


def test_events_arriving_later_are_planned_by_the_next_run(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    ingest_events(kk, workspace, event("e1", "c1"))
    plan(kk, DELIVERED)
    # an event that happened earlier but arrived later still gets its invitation
    ingest_events(kk, workspace, event("late", "c2", at=DELIVERED - timedelta(hours=5)))
    done = plan(kk, DELIVERED)
    assert (done.events, done.invited) == (1, 1)
    assert [r["event_id"] for r in rows(kk)] == ["e1", "late"]


def test_a_disabled_survey_invites_nobody_until_it_is_enabled(
        kk: Kokemus, tmp_path: Path) -> None:
    """A survey being built (`enabled: false`, how the builder starts one) plans nothing for
    its events; enabled, it acts like a trigger just added (on the events after the
    workspace's cursor, here all of them: no live trigger moved it)."""
    ws = with_surveys(kk, tmp_path, "", replace=("  - id: after-delivery\n",
                                                 "  - id: after-delivery\n    enabled: false\n"))
    assert ws.document.survey("after-delivery").enabled is False
    ingest_events(kk, ws, event("e1", "c1"))
    off = plan(kk, DELIVERED + timedelta(minutes=1))
    assert (off.matched, off.invited) == (0, 0)
    assert rows(kk) == []

    ws = with_surveys(kk, tmp_path, "")
    ingest_events(kk, ws, event("e2", "c2"))
    on = plan(kk, DELIVERED + timedelta(minutes=2))
    assert on.invited == 2
    assert [(r["survey"], r["event_id"]) for r in rows(kk)] == [
        ("after-delivery", "e1"), ("after-delivery", "e2")]
