"""The gaps model on a hand-made set whose figures are worked out here by hand (SERVQUAL
item, dimension and overall gaps, weighted and not, SERVPERF, strategy, delivery and
communication gaps). The demo's planted gap: tests/analytics/test_insight_truths.py."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from kokemus import bootstrap
from kokemus.domain.scores import Z95
from kokemus.services import gaps, promises
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.analytics.test_scores import MONDAY, store
from tests.conftest import STARTER

QUALITY = """
  - id: quality
    name: {fi: Laatu, en: Quality}
    touchpoint: delivery
    questions:
      - id: quality
        type: expectation_perception
        set: rater
        attributes:
          - {id: on-time, dimension: reliability, text: {fi: Ajallaan, en: On time}}
"""

# Each respondent: item -> (expected, perceived); None leaves the pair out.
ANSWERS: list[dict[str, tuple[int, int | None]]] = [
    {"tangibles": (6, 5), "reliability": (7, 4), "responsiveness": (5, 6), "assurance": (6, 6),
     "empathy": (5, 5), "on-time": (7, 3)},
    {"tangibles": (5, 5), "reliability": (6, 5), "responsiveness": (6, 4), "assurance": (7, 6),
     "empathy": (4, 6), "on-time": (6, 6)},
    {"tangibles": (4, 6), "reliability": (7, 6), "responsiveness": (6, 6), "assurance": (5, 5),
     "empathy": (6, 3), "on-time": (7, None)},
    {"tangibles": (6, 6), "reliability": (7, 2), "responsiveness": (7, 5), "assurance": (6, 7),
     "empathy": (5, 4), "on-time": (6, 2)},
]
DIMENSION = {"tangibles": "tangibles", "reliability": "reliability", "on-time": "reliability",
             "responsiveness": "responsiveness", "assurance": "assurance", "empathy": "empathy"}
WEIGHTS = {"tangibles": 10, "reliability": 40, "responsiveness": 20, "assurance": 20,
           "empathy": 10}


def quality_workspace(kk: bootstrap.Kokemus, *, weights: bool = True) -> ActiveWorkspace:
    text = STARTER.read_text(encoding="utf-8")
    text = text.replace("target: {ces: 6.0}",
                        "target: {ces: 6.0, attributes: {reliability: 6.0, empathy: 5.5}}")
    text += QUALITY
    if weights:
        text += "insights:\n  gaps:\n    weights: {" + ", ".join(
            f"{k}: {v}" for k, v in WEIGHTS.items()) + "}\n"
    workspace_service.apply(kk.db, document.loads(text), source="test")
    return workspace_service.get(kk.db, "my-company")


def answers_of(pairs: dict[str, tuple[int, int | None]]) -> str:
    return orjson.dumps({"quality": {
        item: ({"expected": e, "perceived": p} if p is not None else {"expected": e})
        for item, (e, p) in pairs.items()}}).decode()


def mean_ci(values: Sequence[float]) -> tuple[float, float, float]:
    m = statistics.fmean(values)
    half = Z95 * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def test_servqual_gaps_on_a_hand_made_set(kk: bootstrap.Kokemus) -> None:
    ws = quality_workspace(kk)
    store(kk, [{"survey": "quality", "customer": f"c{i}", "answers": answers_of(a)}
               for i, a in enumerate(ANSWERS)])
    found = gaps.report(kk, ws)
    delivery = next(t for t in found.touchpoints if t.touchpoint == "delivery")
    assert delivery.responses == 4
    items = {i.item: i for i in delivery.items}
    # an item's gap: the paired differences P - E of those who answered both sides
    on_time = [p - e for a in ANSWERS for e, p in [a["on-time"]] if p is not None]
    assert on_time == [-4, 0, -4]
    assert items["on-time"].gap.n == 3
    value, low, high = mean_ci(on_time)
    assert items["on-time"].gap.value == pytest.approx(value)
    assert items["on-time"].gap.low == pytest.approx(low)
    assert items["on-time"].gap.high == pytest.approx(high)
    assert items["reliability"].gap.value == pytest.approx((-3 - 1 - 1 - 5) / 4)
    assert items["reliability"].expected.value == pytest.approx(27 / 4)
    assert items["reliability"].perceived.value == pytest.approx(17 / 4)
    # a dimension: per respondent the mean of its items' gaps, then over respondents
    per_respondent: list[dict[str, float]] = []
    for a in ANSWERS:
        dims: dict[str, list[int]] = {}
        for item, (e, p) in a.items():
            if p is not None:
                dims.setdefault(DIMENSION[item], []).append(p - e)
        per_respondent.append({d: statistics.fmean(v) for d, v in dims.items()})
    reliability = [r["reliability"] for r in per_respondent]
    assert reliability == [-3.5, -0.5, -1.0, -4.5]
    dims_found = {d.dimension: d for d in delivery.dimensions}
    value, low, high = mean_ci(reliability)
    assert dims_found["reliability"].gap.value == pytest.approx(value)
    assert dims_found["reliability"].gap.low == pytest.approx(low)
    # SERVQUAL: unweighted = mean of the dimension gaps; weighted = sum of w_d gap_d
    unweighted = [statistics.fmean(r.values()) for r in per_respondent]
    total = sum(WEIGHTS.values())
    weighted = [sum(WEIGHTS[d] / total * g for d, g in r.items()) for r in per_respondent]
    perf = [statistics.fmean(p for e, p in a.values() if p is not None) for a in ANSWERS]
    assert delivery.servqual is not None
    for score, values in ((delivery.servqual.unweighted, unweighted),
                          (delivery.servqual.weighted, weighted),
                          (delivery.servqual.servperf, perf)):
        value, low, high = mean_ci(values)
        assert score.n == 4
        assert score.value == pytest.approx(value)
        assert score.low == pytest.approx(low) and score.high == pytest.approx(high)
        assert not score.enough  # 4 answers, the workspace's minimum is 30
    assert found.weights_from == "workspace"
    assert found.weights["reliability"] == pytest.approx(0.4)
    # strategy gap: the target 6.0 for reliability against the expectation 6.75
    assert items["reliability"].target == 6.0
    assert items["reliability"].strategy is not None
    assert items["reliability"].strategy.value == pytest.approx(6.0 - 27 / 4)
    assert items["on-time"].target == 6.0  # by its dimension
    assert items["tangibles"].strategy is None  # no target set


def test_equal_weights_without_the_workspace_s(kk: bootstrap.Kokemus) -> None:
    ws = quality_workspace(kk, weights=False)
    store(kk, [{"survey": "quality", "customer": f"c{i}", "answers": answers_of(a)}
               for i, a in enumerate(ANSWERS)])
    found = gaps.report(kk, ws)
    delivery = next(t for t in found.touchpoints if t.touchpoint == "delivery")
    assert found.weights_from == "equal"
    assert delivery.servqual is not None
    assert delivery.servqual.weighted.value == pytest.approx(delivery.servqual.unweighted.value)


def test_delivery_and_communication_gaps_from_the_keep_rates(kk: bootstrap.Kokemus) -> None:
    ws = quality_workspace(kk)
    items: list[dict[str, Any]] = []
    for i in range(10):  # 10 orders, 3 delivered late
        at = MONDAY + timedelta(minutes=i)
        late = i < 3
        items += [{"id": f"o{i}", "type": "order_placed", "customer": f"c{i}",
                   "channel": "web", "occurred_at": at.isoformat()},
                  {"id": f"d{i}", "type": "delivered", "customer": f"c{i}", "channel": "web",
                   "occurred_at": (at + timedelta(hours=60 if late else 20)).isoformat()}]
    ingest_events(items, ws, kk.events)
    store(kk, [{"customer": f"c{i}", "ces": 4 + i % 3} for i in range(6)])
    as_of = datetime(2026, 4, 1, tzinfo=UTC)
    found = gaps.report(kk, ws, as_of=as_of)
    # the report's way: the occurrences it judged once for every section
    judged = promises.occurrences(kk, ws, promises.Period(as_of))
    assert gaps.report(kk, ws, as_of=as_of, table=judged) == found
    delivery = next(t for t in found.touchpoints if t.touchpoint == "delivery")
    (commitment,) = delivery.delivery
    assert (commitment.commitment, commitment.kept, commitment.broken) == ("delivered-48h", 7, 3)
    assert commitment.rate.value == pytest.approx(70.0)
    assert commitment.gap.value == pytest.approx(-30.0)
    assert commitment.rate.high is not None
    assert commitment.gap.high == pytest.approx(commitment.rate.high - 100)
    (promise,) = delivery.communication
    assert promise.promise == "fast-delivery"
    assert promise.gap.value == pytest.approx(-30.0)
    (ces,) = delivery.scores
    assert (ces.kind, ces.target) == ("ces", 6.0)
    assert ces.measured.value == pytest.approx(5.0)
    assert ces.gap.value == pytest.approx(-1.0)


def test_event_filter_splits_the_customers(kk: bootstrap.Kokemus) -> None:
    ws = quality_workspace(kk)
    store(kk, [{"survey": "quality", "customer": f"c{i}", "answers": answers_of(a)}
               for i, a in enumerate(ANSWERS)])
    ingest_events([{"id": "x", "type": "delivered", "customer": "c1", "channel": "web",
                    "occurred_at": MONDAY.isoformat()}], ws, kk.events)
    had = gaps.report(kk, ws, gaps.Filters(event="delivered"))
    (tp,) = [t for t in had.touchpoints if t.items]
    assert tp.responses == 1
    not_had = gaps.report(kk, ws, gaps.Filters(event="delivered", had=False))
    (tp,) = [t for t in not_had.touchpoints if t.items]
    assert tp.responses == 3
