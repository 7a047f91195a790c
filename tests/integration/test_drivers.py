"""Key drivers from stored answers: the customers x drivers matrix built in the engine (a
customer's mean answer per driver, the outcome last), the weights on it equal to those of
the same matrix built here by hand, and an event outcome (repurchase within 30 days) as 0/1."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import orjson
import pytest

from kokemus import bootstrap
from kokemus.domain import drivers as driver_math
from kokemus.services import drivers
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.analytics.test_scores import MONDAY, store
from tests.conftest import STARTER

EXTRA = """
  - id: parts
    name: {fi: Osat, en: Parts}
    touchpoint: delivery
    questions:
      - {id: recommend, type: nps}
      - {id: packing, type: rating, min: 1, max: 5}
      - {id: courier, type: rating, min: 1, max: 5}
insights:
  outcomes: {repurchase: [order_placed]}
"""


@pytest.fixture
def ws(kk: bootstrap.Kokemus) -> ActiveWorkspace:
    text = STARTER.read_text(encoding="utf-8") + EXTRA
    workspace_service.apply(kk.db, document.loads(text), source="test")
    return workspace_service.get(kk.db, "my-company")


def answers(n: int, seed: int = 4) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        latent = rng.normal()
        order = int(np.clip(round(3 + latent + rng.normal()), 1, 5))
        courier = int(np.clip(round(3 + 0.5 * latent + rng.normal()), 1, 5))
        ces = int(np.clip(round(4 + latent + rng.normal()), 1, 7))
        nps = int(np.clip(round(6 + 1.2 * (order - 3) + 0.4 * (courier - 3) + 0.6 * (ces - 4)
                                + rng.normal()), 0, 10))
        # one answer in the parts survey (the order and courier ratings and the NPS), the
        # effort in another response of the same customer
        rows.append({"survey": "parts", "customer": f"c{i}", "nps": nps,
                     "answers": orjson.dumps({"recommend": nps, "packing": order,
                                              "courier": courier}).decode()})
        rows.append({"survey": "after-delivery", "customer": f"c{i}", "ces": ces,
                     "started_at": MONDAY + timedelta(days=1)})
    return rows


def test_the_engine_s_matrix_gives_the_hand_made_matrix_s_weights(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    rows = answers(300)
    store(kk, rows)
    found = drivers.key_drivers(kk, ws, drivers.Filters(scores=True), resamples=50)
    keys = {d.key for d in found.drivers}
    assert keys == {"delivery:packing", "delivery:courier", "delivery:ces"}
    # by default the summary scores are the outcome's halo, not its drivers
    parts = drivers.key_drivers(kk, ws, resamples=50)
    assert {d.key for d in parts.drivers} == {"delivery:packing", "delivery:courier"}

    assert found.customers == 300 and found.analysis.used == 300
    rated = [orjson.loads(str(rows[2 * i]["answers"])) for i in range(300)]
    by_hand = np.array([[rated[i]["packing"], rated[i]["courier"], rows[2 * i + 1]["ces"],
                         rows[2 * i]["nps"]] for i in range(300)], dtype=float)
    expected = driver_math.analyse(by_hand, ["delivery:packing", "delivery:courier",
                                             "delivery:ces"], "nps", resamples=50)
    weights = {d.key: d.found.weight for d in found.drivers}
    assert weights == {d.name: pytest.approx(d.weight) for d in expected.drivers}
    assert found.drivers[0].key == "delivery:packing"
    assert sum(weights.values()) == pytest.approx(found.analysis.r2)
    order = found.drivers[0]
    assert order.scale == (1.0, 5.0)
    assert order.performance == pytest.approx((order.found.mean - 1) / 4)


def test_an_event_outcome_is_one_when_it_follows_within_the_days(
        kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    rows = answers(200)
    store(kk, rows)
    # the customers with a high order rating buy again within 30 days; a purchase after
    # 40 days does not count; a last event 60 days on closes every window
    items = []
    for i in range(200):
        order = orjson.loads(str(rows[2 * i]["answers"]))["packing"]
        if order >= 4:
            items.append({"id": f"again{i}", "type": "order_placed", "customer": f"c{i}",
                          "channel": "web",
                          "occurred_at": (MONDAY + timedelta(days=10)).isoformat()})
        elif i % 2:
            items.append({"id": f"late{i}", "type": "order_placed", "customer": f"c{i}",
                          "channel": "web",
                          "occurred_at": (MONDAY + timedelta(days=40)).isoformat()})
    items.append({"id": "end", "type": "delivered", "customer": "someone", "channel": "web",
                  "occurred_at": (MONDAY + timedelta(days=60)).isoformat()})
    ingest_events(items, ws, kk.events)
    found = drivers.key_drivers(kk, ws, drivers.Filters(outcome="repurchase"), resamples=50)
    assert found.outcome_scale == (0.0, 1.0)
    keys = [d.key for d in found.drivers]
    assert keys[0] == "delivery:packing"
    assert "delivery:nps" in keys  # the recommendation is a driver of an event outcome
    assert found.drivers[0].found.correlation > 0.5


def test_a_rating_named_after_a_touchpoint_rates_that_touchpoint() -> None:
    from kokemus.analytics.drivers import candidates

    text = STARTER.read_text(encoding="utf-8") + EXTRA.replace("id: courier", "id: order")
    found = {c.key: c.touchpoint for c in candidates(document.loads(text))}
    assert found["order:order"] == "order"  # asked after the delivery, about the order
    assert found["delivery:packing"] == "delivery"


def test_an_unknown_outcome_is_refused(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    from kokemus.domain.errors import Invalid

    with pytest.raises(Invalid, match="no outcome 'happiness'"):
        drivers.key_drivers(kk, ws, drivers.Filters(outcome="happiness"))
