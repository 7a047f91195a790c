"""Scores counted by DuckDB over responses stored in a real event store."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from kokemus import bootstrap
from kokemus.analytics import scores
from kokemus.analytics.channels import touchpoint_by_channel
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log
from kokemus.domain import scores as score_math
from kokemus.storage import responses

MONDAY = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def table_of(rows: Iterable[dict[str, Any]], workspace_id: int = 1) -> pa.Table:
    """Responses as the storage's Arrow schema; unspecified columns get plain defaults."""
    filled = []
    for i, row in enumerate(rows):
        started = row.get("started_at", MONDAY)
        filled.append({
            "workspace_id": workspace_id, "id": f"r{i}", "survey": "after-delivery",
            "invitation": None, "customer": f"c{i}", "account": None, "role": None,
            "segments": [], "touchpoint": "delivery", "channel": "email", "source": "form",
            "language": "fi", "event_id": None, "answers": "{}", "nps": None, "ces": None,
            "csat": None, "comment": None, "complete": True, "started_at": started,
            "updated_at": started, "revision": 1, **row})
    return pa.Table.from_pylist(filled, schema=responses.SCHEMA)


def store(kk: bootstrap.Kokemus, rows: Iterable[dict[str, Any]]) -> None:
    responses.insert_many(kk.events, table_of(rows))


def many(n: int, **row: Any) -> list[dict[str, Any]]:
    return [dict(row) for _ in range(n)]


def report(kk: bootstrap.Kokemus, *by: scores.Breakdown, min_n: int = 1,
           **filters: Any) -> scores.Report:
    with kk.events.reading() as cursor:
        return scores.report(cursor, 1, by, scores.Filters(**filters), min_n)


def test_overall_scores_from_the_counts(kk: bootstrap.Kokemus) -> None:
    # the reference example: 200 promoters, 120 passives, 80 detractors
    store(kk, many(200, nps=10, ces=7, csat=5) + many(120, nps=8, ces=4, csat=3)
          + many(80, nps=3, ces=1) + many(5))  # 5 started without answering anything
    s = report(kk).overall
    assert s.responses == 405
    assert s.nps == score_math.nps(200, 120, 80)
    assert s.nps.value == pytest.approx(30.0) and round(s.nps.low or 0) == 22
    # CES: 200 x 7 + 120 x 4 + 80 x 1 over 400, sevens and fours and ones
    assert s.ces == score_math.ces(400, 200 * 7 + 120 * 4 + 80, 200 * 49 + 120 * 16 + 80)
    assert s.ces.value == pytest.approx(4.9)
    assert s.ces_easy.value == pytest.approx(50.0) and s.ces_easy.n == 400
    # CSAT: NULL answers are not in n: 200 fives of 320 answers
    assert s.csat.n == 320 and s.csat.value == pytest.approx(62.5)


def test_null_scores_do_not_count_toward_n(kk: bootstrap.Kokemus) -> None:
    store(kk, [{"nps": 9}, {"ces": 6}, {"csat": 2}, {}])
    s = report(kk).overall
    assert (s.responses, s.nps.n, s.ces.n, s.csat.n) == (4, 1, 1, 1)


def test_breakdowns_by_touchpoint_channel_account_role_survey(kk: bootstrap.Kokemus) -> None:
    store(kk, many(3, nps=10, touchpoint="delivery", channel="email", account="a1",
                   role="decider", survey="s1")
          + many(2, nps=0, touchpoint="delivery", channel="web", account="a1", role="user",
                 survey="s1")
          + many(4, nps=8, touchpoint="support", channel="web", account="a2", role="user",
                 survey="s2")
          + many(1, nps=9, touchpoint="support", channel=None))
    r = report(kk, "touchpoint", "channel", "account", "role", "survey")

    def values(by: str) -> dict[str | None, tuple[int, float | None]]:
        return {s.key: (s.nps.n, s.nps.value) for s in r.breakdowns[by]}

    assert values("touchpoint") == {"delivery": (5, 20.0), "support": (5, 20.0)}
    # responses without a channel/account/role are left out of that breakdown
    assert values("channel") == {"web": (6, pytest.approx(-100 / 3)), "email": (3, 100.0)}
    assert values("account") == {"a1": (5, 20.0), "a2": (4, 0.0)}
    assert values("role") == {"user": (6, pytest.approx(-100 / 3)), "decider": (3, 100.0)}
    assert values("survey")["s2"] == (4, 0.0)
    assert [s.key for s in r.breakdowns["channel"]] == ["web", "email"]  # largest first
    assert r.overall.nps.n == 10


def test_segments_count_a_response_in_each_of_its_segments(kk: bootstrap.Kokemus) -> None:
    store(kk, many(2, nps=10, segments=["b2b", "north"]) + many(1, nps=0, segments=["north"])
          + many(1, nps=5, segments=[]))
    r = report(kk, "segment")
    by = {s.key: (s.nps.n, s.nps.value) for s in r.breakdowns["segment"]}
    assert by == {"north": (3, pytest.approx(100 / 3)), "b2b": (2, 100.0)}
    assert report(kk, segment="north").overall.nps.n == 3


def test_weekly_and_monthly_trends_in_utc(kk: bootstrap.Kokemus) -> None:
    store(kk, [
        {"nps": 10, "started_at": datetime(2026, 3, 1, 23, 30, tzinfo=UTC)},  # Sunday: week 23.2
        {"nps": 10, "started_at": MONDAY},
        {"nps": 0, "started_at": MONDAY + timedelta(days=6)},
        {"nps": 9, "started_at": MONDAY + timedelta(days=7)},
    ])
    r = report(kk, "week", "month")
    assert [(s.key, s.nps.n) for s in r.breakdowns["week"]] == [
        ("2026-02-23", 1), ("2026-03-02", 2), ("2026-03-09", 1)]
    assert [(s.key, s.nps.n) for s in r.breakdowns["month"]] == [
        ("2026-03-01", 4)]
    band = r.breakdowns["week"][1].nps
    assert band.low is not None and band.high is not None and band.low < 0 < band.high


def test_filters(kk: bootstrap.Kokemus) -> None:
    store(kk, many(2, nps=10, touchpoint="delivery", channel="email")
          + many(3, nps=0, touchpoint="support", channel="web", complete=False)
          + many(1, nps=9, touchpoint="support", channel="web", survey="other",
                 started_at=MONDAY + timedelta(days=30)))
    assert report(kk, touchpoint="support").overall.nps.n == 4
    assert report(kk, channel="email").overall.nps.n == 2
    assert report(kk, survey="other").overall.nps.n == 1
    assert report(kk, complete_only=True).overall.nps.n == 3
    assert report(kk, since=MONDAY + timedelta(days=1)).overall.nps.n == 1
    assert report(kk, until=MONDAY + timedelta(days=1)).overall.nps.n == 5
    assert report(kk, until=datetime(2026, 3, 3)).overall.nps.n == 5  # naive = UTC


def test_other_workspaces_are_not_counted(kk: bootstrap.Kokemus) -> None:
    responses.insert_many(kk.events, table_of(many(3, nps=10), workspace_id=2))
    store(kk, many(1, nps=0))
    assert report(kk).overall.nps.n == 1


def test_too_few_answers_against_min_n(kk: bootstrap.Kokemus) -> None:
    store(kk, many(29, nps=10, csat=5, touchpoint="delivery")
          + many(30, nps=10, csat=5, touchpoint="support"))
    r = report(kk, "touchpoint", min_n=30)
    assert r.overall.nps.enough
    enough = {s.key: s.nps.enough for s in r.breakdowns["touchpoint"]}
    assert enough == {"delivery": False, "support": True}


def test_comparison_of_two_periods(kk: bootstrap.Kokemus) -> None:
    march, april, may = (datetime(2026, m, 1, tzinfo=UTC) for m in (3, 4, 5))
    store(kk, many(200, nps=10, started_at=march) + many(120, nps=8, started_at=march)
          + many(80, nps=2, started_at=march)
          + many(280, nps=10, started_at=april) + many(80, nps=7, started_at=april)
          + many(40, nps=1, started_at=april))
    with kk.events.reading() as cursor:
        moved = scores.compare(cursor, 1, (march, april), (april, may), min_n=30)
    nps = moved.changes["nps"]
    assert nps.before.value == pytest.approx(30) and nps.after.value == pytest.approx(60)
    assert nps.significant
    assert not moved.changes["csat"].significant and moved.changes["csat"].difference is None
    with kk.events.reading() as cursor:
        same = scores.compare(cursor, 1, (march, march + timedelta(hours=1)), (april, may),
                              min_n=30)
    assert same.before.nps.n == 400 and same.after.nps.n == 400
    r = report(kk, "month")
    latest = scores.latest_change(r.breakdowns["month"])
    assert latest is not None and latest.changes["nps"].significant


def test_unknown_breakdown_is_refused(kk: bootstrap.Kokemus) -> None:
    with pytest.raises(ValueError, match="no breakdown"):
        report(kk, "colour")  # type: ignore[arg-type]


def test_touchpoint_by_channel_joins_the_answer_scores(kk: bootstrap.Kokemus) -> None:
    store(kk, many(3, nps=10, ces=7, csat=5, channel="web")
          + many(1, nps=0, ces=1, csat=1, channel="web")
          + many(2, nps=8, ces=4, channel="phone")
          + many(5, nps=0, touchpoint="order", channel="web"))
    start = datetime(2026, 3, 2, tzinfo=UTC)
    with kk.events.reading() as cursor:
        engine = DuckDBEngine(cursor)
        events = [(f"c{i}", "delivery", start + timedelta(hours=i), i, channel)
                  for i, channel in enumerate(["web", "web", "phone", "phone"])]
        values = ", ".join(f"('{c}', '{a}', TIMESTAMPTZ '{t.isoformat()}', {s}, '{ch}')"
                           for c, a, t, s, ch in events)
        log = Log(f"SELECT * FROM (VALUES {values}) AS t(case_id, activity, ts, seq, channel)")
        rows = {r["channel"]: r for r in touchpoint_by_channel(
            engine, log, scores=scores.answers_sql(1), min_cases=1).to_pylist()}
        plain = touchpoint_by_channel(engine, log, min_cases=1)
    web, phone = rows["web"], rows["phone"]
    assert (web["nps_n"], web["nps"]) == (4, pytest.approx(50.0))
    assert (web["ces_n"], web["ces"]) == (4, pytest.approx(22 / 4))
    assert (web["csat_n"], web["csat"]) == (4, pytest.approx(75.0))
    assert (phone["nps_n"], phone["nps"], phone["csat_n"], phone["csat"]) == (2, 0.0, 0, None)
    assert web["cases"] == 2  # the journey figures are unchanged by the join
    assert "nps" not in plain.column_names
