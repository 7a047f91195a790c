"""The insight analyses on a small hand-made store: every figure checked against counts
made by hand (elements of value, Kano, outcomes after an answer, silent moments, comments)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kokemus import bootstrap
from kokemus.analytics import kano, outcomes, silent, text, value
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_surveys_pages import response, store

EXTRA = """
  - id: value
    name: {fi: Arvo, en: Value}
    touchpoint: order
    questions:
      - {id: recommend, type: nps}
      - {id: effort, type: ces}
      - {id: eov, type: elements_of_value, elements: [saves_time, avoids_hassles, informs, quality]}
      - id: features
        type: kano
        features:
          - id: tracking
            functional: {fi: Jos voit seurata tilaustasi, en: If you can track your order}
            dysfunctional: {fi: Jos et voi seurata, en: If you cannot track it}
          - id: gift-wrap
            functional: {fi: Jos saat lahjapaketin, en: If you get gift wrapping}
            dysfunctional: {fi: Jos et saa, en: If you do not}
insights:
  outcomes: {repurchase: [order_placed], churn: [account_closed]}
  themes:
    - id: delivery
      name: {fi: Toimitus, en: Delivery}
      lemmas: {fi: [toimitus, kuljetus], en: [delivery]}
    - id: broken
      name: {fi: Rikki, en: Broken}
      lemmas: {fi: [rikki, rikkoa], en: [broken, break]}
  silent_moments:
    - {touchpoint: delivery, share_buying: 0.125, basket: 20, occasions_per_day: 13}
    - {touchpoint: order, people_per_occasion: 40, share_buying: 0.125, basket: 20,
       occasions_per_day: 13, days_per_year: 360}
"""
T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def ws(kk: bootstrap.Kokemus) -> ActiveWorkspace:
    doc = document.loads(STARTER.read_text() + EXTRA)
    workspace_service.apply(kk.db, doc)
    return workspace_service.get(kk.db, doc.workspace)


def answer(i: int, nps: int | None, answers: dict[str, Any], *, ces: int | None = None,
           comment: str | None = None, language: str = "fi") -> dict[str, Any]:
    row = response(i, nps=nps, ces=ces, comment=comment, touchpoint="order",
                   answers={**({"recommend": nps} if nps is not None else {}), **answers})
    return {**row, "survey": "value", "language": language}


def test_elements_of_value_by_hand(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    store(kk, ws, [
        answer(1, 10, {"eov": {"saves_time": 5, "avoids_hassles": 4, "informs": 2}}),
        answer(2, 9, {"eov": {"saves_time": 4, "quality": 5}}),
        answer(3, 3, {"eov": {"saves_time": 2, "informs": 1}}),
        answer(4, 6, {"eov": {"saves_time": 3}}),
        answer(5, 8, {}),  # no element answered: not a respondent
    ])
    with kk.events.reading() as cur:
        r = value.report(cur, ws.id, ws.document)
    assert r.kind == "b2c" and r.questions == [("value", "eov")]
    assert r.respondents == 4
    assert r.mean_perceived == pytest.approx(4 / 4)  # 2 + 2 + 0 + 0 perceived
    by = {e.element: e for e in r.elements}
    assert (by["saves_time"].n, by["saves_time"].perceived) == (4, 2)
    assert by["saves_time"].share.value == pytest.approx(50.0)
    assert by["saves_time"].claimed and by["saves_time"].asked
    assert by["reduces_anxiety"].claimed and not by["reduces_anxiety"].asked
    assert by["reduces_anxiety"].n == 0
    assert not by["quality"].claimed and by["quality"].share.value == pytest.approx(100.0)
    assert (by["informs"].n, by["informs"].perceived) == (2, 0)
    low, high = by["saves_time"].share.low, by["saves_time"].share.high
    assert low is not None and high is not None and low < 50 < high
    # claimed first
    assert [e.claimed for e in r.elements] == sorted((e.claimed for e in r.elements),
                                                     reverse=True)
    # claimed answers: saves_time 2/4, avoids_hassles 1/1 -> 3/5
    assert r.claimed_share.n == 5 and r.claimed_share.value == pytest.approx(60.0)
    counts = {c.group: c for c in r.counts}
    assert counts["0"].respondents == 2 and counts["2"].respondents == 2
    assert counts["0"].nps.value == pytest.approx(-100.0)
    assert counts["2"].nps.value == pytest.approx(100.0)
    assert counts["5+"].respondents == 0 and counts["5+"].nps.value is None


def test_kano_from_stored_answers(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    pairs = [("expect", "dislike")] * 3 + [("like", "dislike")] * 2 + [("like", "neutral")]
    store(kk, ws, [answer(i, None, {"features": {
        "tracking": {"functional": f, "dysfunctional": d},
        **({"gift-wrap": {"functional": "neutral", "dysfunctional": "neutral"}} if i < 3
           else {})}}) for i, (f, d) in enumerate(pairs)])
    with kk.events.reading() as cur:
        found = {f.result.feature: f.result for f in kano.report(cur, ws.id, ws.document)}
    assert found["tracking"].n == 6
    assert found["tracking"].counts["M"] == 3 and found["tracking"].counts["O"] == 2
    assert found["tracking"].category == "M"
    assert found["tracking"].better == pytest.approx(3 / 6)
    assert found["tracking"].worse == pytest.approx(-5 / 6)
    assert found["gift-wrap"].category == "I" and found["gift-wrap"].n == 3


def _event(i: int, kind: str, customer: str, at: datetime) -> dict[str, Any]:
    return {"id": f"e{i}", "type": kind, "customer": customer, "channel": "web",
            "occurred_at": at.isoformat()}


def test_outcomes_after_the_answer(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    # response(i) starts at START + i hours; customers c1..c6
    rows = [answer(1, 10, {}, ces=7), answer(2, 9, {}, ces=6), answer(3, 2, {}, ces=2),
            answer(4, 1, {}, ces=1), answer(5, 8, {}, ces=4), answer(6, 10, {}, ces=7)]
    store(kk, ws, rows)
    starts = {r["customer"]: r["started_at"] for r in rows}
    ingest_events([
        _event(1, "order_placed", "c1", starts["c1"] + timedelta(days=10)),  # easy, bought
        _event(2, "order_placed", "c2", starts["c2"] + timedelta(days=95)),  # too late
        _event(3, "order_placed", "c3", starts["c3"] - timedelta(days=1)),  # before: no
        _event(4, "order_placed", "c4", starts["c4"] + timedelta(days=30)),  # hard, bought
        _event(5, "order_placed", "c6", starts["c6"] + timedelta(days=1)),
        _event(6, "order_placed", "x", starts["c1"] + timedelta(days=200)),  # as_of
    ], ws, kk.events)
    with kk.events.reading() as cur:
        r = outcomes.report(cur, ws.id, ws.document.insights.outcomes, "repurchase")
        churn = outcomes.report(cur, ws.id, ws.document.insights.outcomes, "retention")
        cut = outcomes.report(cur, ws.id, ws.document.insights.outcomes, "repurchase",
                              as_of=starts["c1"] + timedelta(days=90, minutes=30))
    assert r.judged == 6 and r.open == 0 and r.days == 90
    bands = {g.group: g for g in r.by_effort}
    assert (bands["easy"].share.n, bands["easy"].followed) == (3, 2)
    assert (bands["hard"].share.n, bands["hard"].followed) == (2, 1)
    assert (bands["neutral"].share.n, bands["neutral"].followed) == (1, 0)
    assert r.easy_vs_hard.value == pytest.approx(100 * (2 / 3 - 1 / 2))
    low, high = r.easy_vs_hard.low, r.easy_vs_hard.high
    assert low is not None and high is not None and low < 0 < high
    assert not r.easy_vs_hard.significant
    groups = {g.group: g for g in r.by_nps}
    assert (groups["promoter"].share.n, groups["promoter"].followed) == (3, 2)
    assert churn.overall.value == pytest.approx(100.0)  # no account_closed at all
    assert cut.judged == 1 and cut.open == 5  # only c1's 90 days are over by then
    with pytest.raises(ValueError, match="no outcome"):
        outcomes.report(cur, ws.id, ws.document.insights.outcomes, "loyalty")


def test_no_outcome_events_named(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    empty = ws.document.insights.outcomes.model_copy(update={"repurchase": []})
    with kk.events.reading() as cur, pytest.raises(outcomes.NoOutcomeEvents,
                                                  match=r"insights\.outcomes\.repurchase"):
        outcomes.report(cur, ws.id, empty, "repurchase")


def test_silent_moments_from_traffic_and_assumptions(kk: bootstrap.Kokemus,
                                                     ws: ActiveWorkspace) -> None:
    # 1,040 deliveries over two days: 520 a day = 40 per occasion at 13 occasions a day
    ingest_events([_event(i, "delivered", f"c{i}", T0 + timedelta(days=i % 2, seconds=i))
                   for i in range(1040)], ws, kk.events)
    with kk.events.reading() as cur:
        r = silent.report(cur, ws.id, ws.document)
    by = {m.touchpoint: m for m in r.moments}
    assert by["order"].per_year == pytest.approx(468_000)  # the article's bus, as given
    assert by["order"].people_source == "workspace" and by["order"].per_occasion == 100
    assert by["order"].per_day == pytest.approx(1300)
    assert by["delivery"].traffic.events == 1040 and by["delivery"].traffic.days == 2
    assert by["delivery"].people_source == "events"
    assert by["delivery"].people_per_occasion == pytest.approx(40)
    assert by["delivery"].per_year == pytest.approx(468_000)
    assert json.dumps(r.as_dict())  # serialisable as the API sends it


def test_comments_words_themes_and_touchpoints(kk: bootstrap.Kokemus,
                                               ws: ActiveWorkspace) -> None:
    detractor = ["Kuljetus rikkoi koneen.", "Kone tuli rikki kuljetuksessa.",
                 "Rikki ja myöhässä.", "Kuljetusliike rikkoi pesukoneen."]
    promoter = ["Nopea toimitus, kiitos!", "Kiitos, kaikki sujui.", "Nopea ja ystävällinen.",
                "Kiitos nopeasta toimituksesta."]
    rows = [answer(i, 2, {}, comment=c) for i, c in enumerate(detractor * 5)]
    rows += [answer(100 + i, 10, {}, comment=c) for i, c in enumerate(promoter * 5)]
    rows += [answer(200, 8, {}, comment="The delivery was fine", language="en")]
    store(kk, ws, rows)
    with kk.events.reading() as cur:
        r = text.report(cur, ws.id, ws.document.insights.themes)
    assert r.comments == 41 and r.detractors == 20 and r.promoters == 20
    detractor_words = [w.term for w in r.words if w.z > 0]
    promoter_words = [w.term for w in r.words if w.z < 0]
    # each said 10 times by detractors, never by promoters: tied at the top
    assert set(detractor_words[:4]) == {"rikkoa", "rikki", "kuljetus", "kone"}
    assert "rikki" not in promoter_words and "kiitos" not in detractor_words
    assert "kiitos" in promoter_words and "nopea" in promoter_words
    assert all(abs(w.z) > 1.96 for w in r.words)
    themes = {t.theme: t for t in r.themes}
    # broken: rikki/rikkoa in all four detractor comments (x5) = 20 comments
    assert themes["broken"].mentions == 20 and themes["broken"].nps.value == -100
    # delivery: kuljetus (2 of 4 detractor texts) and toimitus (2 of 4 promoter texts) x5, +1 en
    assert themes["delivery"].mentions == 21
    assert themes["delivery"].share.value == pytest.approx(100 * 21 / 41)
    assert r.touchpoints[0].touchpoint == "order" and r.touchpoints[0].comments == 41
