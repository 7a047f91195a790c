"""The demo's planted truths, found by the gaps and the key drivers (docs/demo.md):
delivery is the top driver of recommendation in the appliance shop, and the reliability gap
opens for customers whose delivery was damaged while their expectations stay alike."""

from __future__ import annotations

from kokemus.bootstrap import Kokemus
from kokemus.domain.gaps import DimensionGap
from kokemus.services import drivers, gaps, workspaces


def test_delivery_is_the_top_driver_of_recommendation(demo: Kokemus) -> None:
    ws = workspaces.get(demo.db, "kodinkone")
    found = drivers.key_drivers(demo, ws)
    assert found.analysis.enough
    assert abs(sum(d.found.weight for d in found.drivers) - found.analysis.r2) < 1e-9
    top = found.drivers[0]
    assert top.touchpoint == "delivery", [(d.key, round(d.found.share, 3))
                                          for d in found.drivers]
    assert top.found.enough and top.found.sign > 0
    # clearly first: its interval's low end above every other driver's share
    assert all(top.found.low > d.found.share for d in found.drivers[1:]
               if d.touchpoint != "delivery")


def test_the_reliability_gap_opens_for_damaged_deliveries(demo: Kokemus) -> None:
    """Every damaged delivery is asked the service-quality questions (survey
    quality-after-damage), so enough of them answer at this size (docs/demo.md)."""
    ws = workspaces.get(demo.db, "kodinkone")

    def reliability(had: bool) -> DimensionGap:
        found = gaps.report(demo, ws, gaps.Filters(event="delivery_damaged", had=had,
                                                   touchpoint="installation"))
        (tp,) = found.touchpoints
        return next(d for d in tp.dimensions if d.dimension == "reliability")

    damaged, intact = reliability(True), reliability(False)
    assert damaged.gap.enough and intact.gap.enough
    assert damaged.gap.value is not None and intact.gap.value is not None
    assert damaged.gap.high is not None and intact.gap.low is not None
    # the gap opens: the damaged ones' interval lies wholly below the others'
    assert damaged.gap.high < intact.gap.low
    assert damaged.gap.value < intact.gap.value - 1.0
    # while the expectations stay alike
    assert damaged.expected.value is not None and intact.expected.value is not None
    assert abs(damaged.expected.value - intact.expected.value) < 0.3
