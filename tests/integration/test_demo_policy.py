"""`kokemus demo --compare-policy`: the appliance shop with its damage rule on
(kodinkone-rule) against the shop as it is (kodinkone), the same customers and damages.
The planted differences (docs/demo.md, "With the rule and without") are found by the
product's own figures: the scorecard's keep rates, the scores, the recovered share, the
cases in the app store; and the history without the rule is the default demo's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import appliance_shop, compare, generate
from kokemus.domain import scores
from kokemus.services import cases, workspaces

AS_OF = datetime(2026, 7, 1, tzinfo=UTC)
CUSTOMERS = 8_000  # the analytics tests' size: 4,000 customers in each workspace


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootstrap.Kokemus]:
    folder: Path = tmp_path_factory.mktemp("policy")
    with bootstrap.build(Settings(data_dir=folder, secret_key="test-secret")) as kk:
        generate.run(kk, customers=CUSTOMERS, end=date(2026, 6, 30),
                     scenarios=(appliance_shop.SCENARIO, appliance_shop.RULE_SCENARIO))
        yield kk


@pytest.fixture(scope="module")
def side_by_side(made: bootstrap.Kokemus) -> compare.Comparison:
    return compare.compare(made, AS_OF)


def test_the_same_damages_in_both(made: bootstrap.Kokemus) -> None:
    """The appliances' damages are drawn alike; the accessories ordered later are not (who
    comes back follows the first order's experience, which the rule changes)."""
    with made.events.reading() as cur:
        rows = dict(cur.execute("""
            SELECT w.slug, count(*) FROM events e JOIN (SELECT ? AS slug, ? AS id UNION ALL
                                                        SELECT ?, ?) w ON w.id = e.workspace_id
            WHERE type = 'delivery_damaged' AND properties->>'order' LIKE '%-o1'
            GROUP BY 1""", [
            "kodinkone", workspaces.get(made.db, "kodinkone").id,
            "kodinkone-rule", workspaces.get(made.db, "kodinkone-rule").id]).fetchall())
    assert rows["kodinkone"] == rows["kodinkone-rule"] > 50


def test_told_within_the_hour_offered_cancellation_and_asked_once(
        side_by_side: compare.Comparison) -> None:
    off, on = side_by_side.without.keep, side_by_side.with_rule.keep
    notice = "delay-told-2h.damage-notice-2h"
    assert off[notice].kept == 0 and off[notice].broken > 50
    assert on[notice].broken == 0 and on[notice].kept > 50
    refused = "one-whole.no-refused-cancellation"
    assert on[refused].broken == 0 and off[refused].broken > 30
    first = "one-whole.solved-first-contact"
    low, high = on[first].rate.low, off[first].rate.high
    assert low is not None and high is not None and low > high  # intervals apart


def test_damaged_customers_score_higher_with_the_rule(side_by_side: compare.Comparison) -> None:
    off, on = side_by_side.without, side_by_side.with_rule
    for kind in ("nps", "ces"):
        a, b = getattr(off, kind)["damaged"], getattr(on, kind)["damaged"]
        assert a.n >= 25 and b.n >= 25
        assert a.high is not None and b.low is not None
        assert b.low > a.high, kind  # the 95 % intervals do not overlap
    assert on.nps["damaged"].value - off.nps["damaged"].value > 50  # type: ignore[operator]
    # CSAT (a share of 4-5) at ~35 answers a side: the difference's interval excludes 0
    a, b = off.csat["damaged"], on.csat["damaged"]
    diff = scores.difference(round(b.value * b.n / 100), b.n,  # type: ignore[operator]
                             round(a.value * a.n / 100), a.n)  # type: ignore[operator]
    assert diff is not None and diff[1] > 0


def test_recovered_share_higher_and_the_recovery_report_sees_the_callback(
        side_by_side: compare.Comparison) -> None:
    off, on = side_by_side.without, side_by_side.with_rule
    assert off.recovered.high is not None and on.recovered.low is not None
    assert on.recovered.low > off.recovered.high
    # the damage rule's case is opened before any answer; the callback's after every
    # detractor answer: with the rules every detractor has a case, without them none
    assert off.recovery.with_case.detractors == on.recovery.without_case.detractors == 0
    assert 0 < on.recovery.with_case.detractors < off.recovery.without_case.detractors
    # called back and asked again: most answer, and most of those 7 or more
    answered, recovered = on.recovery.with_case.answered, on.recovery.with_case.recovered
    assert answered.low is not None and answered.low > 40
    assert recovered.n >= 40 and recovered.low is not None and recovered.low > 60
    # nobody calls the shop's detractors and nobody asks them again: none answers again
    # (the default history is kept as it was), so there is no difference to compute
    assert off.recovery.without_case.answered.value == 0
    assert side_by_side.called_back is None


def test_a_callback_case_for_customer_service_per_detractor(
        made: bootstrap.Kokemus, side_by_side: compare.Comparison) -> None:
    assert side_by_side.without.callbacks == 0
    on = side_by_side.with_rule
    assert on.callbacks == on.recovery.with_case.detractors  # one detractor answer each
    ws = workspaces.get(made.db, "kodinkone-rule")
    found, _ = cases.listing(made.db, ws.id, cases.Filters(departments=("customer-service",)),
                             limit=cases.MAX_LIST)
    assert {c.rule for c in found} == {"detractor-callback"}
    assert sum(c.resolved_at is not None for c in found) >= len(found) - 3


def test_a_case_for_logistics_per_damage_resolved_when_the_machine_left(
        made: bootstrap.Kokemus, side_by_side: compare.Comparison) -> None:
    assert side_by_side.without.cases == 0
    ws = workspaces.get(made.db, "kodinkone-rule")
    found, total = cases.listing(made.db, ws.id, cases.Filters(departments=("logistics",)),
                                 limit=cases.MAX_LIST)
    assert total == side_by_side.with_rule.keep["delay-told-2h.damage-notice-2h"].kept
    assert {c.department for c in found} == {"logistics"}
    resolved = [c for c in found if c.resolved_at is not None]
    assert len(resolved) >= total - 2  # a damage in the last hours may still be open
    within = sum(c.sla_due_at is not None and c.resolved_at is not None
                 and c.resolved_at <= c.sla_due_at for c in found)
    assert within / total > 0.6  # 4 h: most by day; a damage at night waits for the morning


def test_a_second_run_stores_nothing_twice(made: bootstrap.Kokemus,
                                           side_by_side: compare.Comparison) -> None:
    generate.run(made, customers=CUSTOMERS, end=date(2026, 6, 30),
                 scenarios=(appliance_shop.SCENARIO, appliance_shop.RULE_SCENARIO))
    assert compare.compare(made, AS_OF).with_rule.cases == side_by_side.with_rule.cases
