"""The report over the demo: every section there, the fixes with their gains, one HTML file
that loads nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kokemus.bootstrap import Kokemus
from kokemus.services import report, workspaces
from kokemus.web.report import html_file

AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


def test_the_report_of_the_demo(demo: Kokemus) -> None:
    ws = workspaces.get(demo.db, "kodinkone")
    found = report.build(demo, ws, as_of=AS_OF)
    data = found.as_dict()
    json.dumps(data)  # plain JSON, nothing left that is not
    for name in ("promises", "costs", "signals", "dropoff", "value", "comments"):
        assert name in data["sections"], (name, data["missing"])
    assert len(found.fixes) <= 3 and all(f.gain > 0 for f in found.fixes)
    # journeys as of the report's day: a report of an earlier day counts the journeys
    # begun by then (it counted every journey of the store), some still in flight
    purchase = next(j for j in data["sections"]["dropoff"] if j["journey"] == "purchase")
    earlier = report.build(demo, ws, as_of=datetime(2026, 4, 1, tzinfo=UTC))
    before = next(j for j in earlier.sections["dropoff"] if j["journey"] == "purchase")
    assert sum(before["outcomes"].values()) < sum(purchase["outcomes"].values())
    assert before["outcomes"]["in_flight"] > 0
    html = html_file(found, ws, "fi")
    assert "<script" not in html and "<link" not in html  # one file that loads nothing
    assert "Kolme asiaa korjattavaksi ensin" in html and "Lupausten pitäminen" in html
    assert html.count("<svg") >= 1
    assert "The three things to fix first" in html_file(found, ws, "en")
