"""Score trends: weeks coarsen to months when the median week has fewer than 30 answers (the
empty weeks between counted), an explicit choice is kept, the compared periods are named in
the reader's language, and the y range fits the data with the zero line when it is inside."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from kokemus import bootstrap
from kokemus.analytics import scores
from kokemus.domain import scores as score_math
from kokemus.services import access
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.web import scores as page
from tests.web.test_pages import log_in

MONDAY = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def week(key: str, n: int) -> scores.Scores:
    return scores.from_counts(key, [n, n, 0, 0, 0, 0, 0, 0, 0, 0], 30)


def test_the_median_week_counts_the_empty_weeks_between() -> None:
    # 40 answers, a week without any, 10: the median week has 10
    weeks = [week("2026-01-05", 40), week("2026-01-19", 10)]
    assert scores.median_week(weeks) == 10
    assert scores.trend_grain(weeks) == "month"
    assert scores.median_week([]) == 0 and scores.trend_grain([]) == "month"


@pytest.mark.parametrize(("sizes", "grain"), [
    ([30, 30, 30], "week"), ([29, 30, 31, 29], "month"), ([30, 29, 31, 30], "week"),
    ([100, 5, 5], "month"), ([5, 100, 100], "week")])
def test_the_threshold_is_30_answers_in_the_median_week(sizes: list[int], grain: str) -> None:
    weeks = [week((date(2026, 1, 5) + timedelta(weeks=i)).isoformat(), n)
             for i, n in enumerate(sizes)]
    assert scores.WEEKLY_MINIMUM == 30
    assert scores.trend_grain(weeks) == grain


def test_the_range_fits_the_data_and_keeps_the_zero_line_inside() -> None:
    rows = [{"value": 30.0, "low": 22.0, "high": 37.0}, {"value": 35.0, "low": 28.0,
                                                          "high": 42.0}]
    low, high = page.fitted("nps", rows)
    assert -100 < low <= 22 and 42 <= high < 100 and high - low <= 40
    crossing = [{"value": -5.0, "low": -20.0, "high": 10.0}]
    low, high = page.fitted("nps", crossing)
    assert low < 0 < high and low >= -30 and high <= 20
    # a flat line still has a readable range (a tenth of the scale), inside the scale
    low, high = page.fitted("csat", [{"value": 99.0, "low": 99.0, "high": 100.0}])
    assert high == 100 and high - low >= 10
    assert page.fitted("ces", []) == (1.0, 7.0)


def test_the_compared_periods_are_named_in_the_readers_language() -> None:
    assert page.period_label("2026-03-02", "week", "fi") == "2.3.\u20138.3.2026"
    assert page.period_label("2026-03-02", "week", "en") == "2 Mar \u2013 8 Mar 2026"
    assert page.period_label("2025-12-29", "week", "fi") == "29.12.2025\u20134.1.2026"
    assert page.period_label("2026-03-01", "month", "fi") == "maaliskuu 2026"
    assert page.period_label("2026-03-01", "month", "en") == "March 2026"


def answers(workspace_id: int, per_week: list[int]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for w, n in enumerate(per_week):
        for i in range(n):
            at = MONDAY + timedelta(weeks=w, hours=i)
            nps = (10, 9, 8, 5, 2)[i % 5]
            rows.append({"workspace_id": workspace_id, "id": f"r{w}-{i}",
                         "survey": "after-delivery", "invitation": None, "customer": f"c{i}",
                         "account": None, "role": None, "segments": [],
                         "touchpoint": "delivery", "channel": "web", "source": "api",
                         "language": "fi", "event_id": None,
                         "answers": json.dumps({"recommend": nps}), "nps": nps, "ces": None,
                         "csat": None, "comment": None, "complete": True, "started_at": at,
                         "updated_at": at, "revision": 1})
    return pa.Table.from_pylist(rows, schema=responses.SCHEMA)


@pytest.fixture
def analyst(client: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> TestClient:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "analyst")
    log_in(client)
    return client


def test_thin_weeks_are_drawn_by_month_and_said_so(
    analyst: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    responses.insert_many(kk.events, answers(workspace.id, [12] * 9))  # 9 weeks of 12
    html = analyst.get("/w/my-company/scores").text
    note = re.search(r'<p class="coarsened" id="trend-coarsened">(.*?)</p>', html, re.S)
    assert note, "no word of the coarsening"
    assert "mediaanina 12 vastausta, alle 30" in note.group(1)
    assert "Kehitys: kuukausi" in html or "kuukausi" in html
    # the latest two months, named: March (its first week) against February 2026
    assert re.search(r'<time datetime="2026-02-01">helmikuu 2026</time>', html)
    assert re.search(r'<time datetime="2026-03-01">maaliskuu 2026</time>', html)
    # asked for weeks by name: weeks, without the note
    weekly = analyst.get("/w/my-company/scores?trend=week").text
    assert 'id="trend-coarsened"' not in weekly
    assert '<time datetime="2026-03-02">2.3.\u20138.3.2026</time>' in weekly
    assert '<option value="week" selected>' in weekly


def test_full_weeks_stay_weeks(analyst: TestClient, kk: bootstrap.Kokemus,
                               workspace: ActiveWorkspace) -> None:
    responses.insert_many(kk.events, answers(workspace.id, [35, 40, 32]))
    html = analyst.get("/w/my-company/scores").text
    assert 'id="trend-coarsened"' not in html
    assert '<time datetime="2026-01-19">19.1.\u201325.1.2026</time>' in html
    analyst.get("/language/en")
    english = analyst.get("/w/my-company/scores").text
    assert '<time datetime="2026-01-19">19 Jan \u2013 25 Jan 2026</time>' in english


def test_the_nps_chart_range_follows_its_points(
    analyst: TestClient, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    responses.insert_many(kk.events, answers(workspace.id, [40, 40, 40]))
    html = analyst.get("/w/my-company/scores").text
    chart = re.search(r'<svg[^>]*id="trend-nps".*?</svg>', html, re.S)
    assert chart
    ticks = [t.replace("\u2212", "-") for t in
             re.findall(r'<text[^>]*>(\u2212?\d+)</text>', chart.group(0))]
    # 40 answers of 10, 9, 8, 5, 2 in turn: NPS 0, its interval about -30..30; the axis is
    # not the whole -100..100, and the zero line is drawn
    nps = score_math.nps(16, 8, 16, 30)
    assert nps.low is not None and nps.high is not None
    numbers = [int(t) for t in ticks]
    assert min(numbers) > -100 and max(numbers) < 100, numbers
    assert min(numbers) <= nps.low and max(numbers) >= nps.high - 10
    assert 'class="mark-rule role-mark zero_marks"' in chart.group(0)
