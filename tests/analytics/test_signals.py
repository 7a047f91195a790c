"""The five warning signals: what the demo plants fires and the rest does not, and each
rule on hand-made data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kokemus.bootstrap import Kokemus
from kokemus.services import signals, workspaces
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace

AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


def by_id(found: list[signals.Signal]) -> dict[str, signals.Signal]:
    return {s.id: s for s in found}


def test_the_appliance_shop_loses_its_promises_at_hand_offs(demo: Kokemus) -> None:
    shop = by_id(signals.signals(demo, workspaces.get(demo.db, "kodinkone"), as_of=AS_OF))
    assert [s for s in signals.SIGNALS] == list(shop)
    handoffs = shop["handoff_stalls"]
    assert handoffs.fired and handoffs.severity == "high"
    assert handoffs.summary["share"] >= 0.5 and handoffs.summary["broken"] >= 50
    # the damaged deliveries: the customer goes to customer service, then waits for logistics
    assert {"customer-service", "installation"} & {r["from"] for r in handoffs.evidence}
    assert all(r["to"] == "logistics" for r in handoffs.evidence[:2])
    # the shop has a social channel with traffic, complaints are flat, channels agree and
    # its delivery promise moves NPS: none of these fire
    for quiet in ("no_social_listening", "complaints_rising", "channel_inconsistency",
                  "kpis_unlinked"):
        assert not shop[quiet].fired, (quiet, shop[quiet])
    assert shop["kpis_unlinked"].evidence[0]["significant"]


def test_the_machinery_dealer_does_not_listen_to_social_media(demo: Kokemus) -> None:
    dealer = by_id(signals.signals(demo, workspaces.get(demo.db, "konekauppa"), as_of=AS_OF))
    social = dealer["no_social_listening"]
    assert social.fired and social.severity == "high" and social.summary["channels"] == []


@pytest.mark.parametrize(("recent", "before", "rising"), [
    (40, 20, True),  # twice as many, z = 2.58
    (24, 16, False),  # 1.5 times, but z = 1.26: within chance
    (12, 10, False), (0, 0, False), (30, 0, True)])
def test_a_rise_is_large_and_significant(recent: int, before: int, rising: bool) -> None:
    assert signals._rising(recent, before)[0] is rising


def test_complaints_rising_and_social_listening(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    document = workspace.document.model_copy(update={
        "insights": workspace.document.insights.model_copy(update={
            "complaints": ["complaint"], "listening": ["web"]})})
    workspaces.apply(kk.db, document)
    ws = workspaces.get(kk.db, workspace.slug)
    # 10 complaints a week before, 25 a week in the last 8 weeks; one web event long ago
    items = []
    for week in range(16):
        for i in range(25 if week >= 8 else 10):
            at = AS_OF - timedelta(weeks=16 - week) + timedelta(hours=i)
            items.append({"id": f"c{week}-{i}", "type": "complaint", "customer": f"k{i}",
                          "channel": "phone", "occurred_at": at.isoformat()})
    items.append({"id": "w1", "type": "order_placed", "customer": "k1", "channel": "web",
                  "occurred_at": (AS_OF - timedelta(days=200)).isoformat()})
    ingest_events(items, ws, kk.events)
    found = by_id(signals.signals(kk, ws, as_of=AS_OF))
    rising = found["complaints_rising"]
    assert rising.fired and rising.severity == "high"
    assert rising.evidence[0] == {"what": "complaints", "recent": 200, "before": 80,
                                  "ratio": 2.5, "rising": True}
    social = found["no_social_listening"]
    assert social.fired and social.severity == "medium"  # named, but silent for 90 days
    assert social.evidence == [{"channel": "web", "events": 0}]
    assert found["handoff_stalls"].severity == "unknown"  # no broken promise to judge
