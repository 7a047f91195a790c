"""The demo's planted insight truths (docs/demo.md), found by the insight analyses: customers
who perceive more elements of value give a higher NPS, `informs` is perceived poorly, low
effort goes with more repurchase, detractors' comments have words of their own, and the
Kano pair finds each feature's planted category.

Each test first checks that the demo plants what it looks for; where the plant is missing
the test is an expected failure that names the plant, never a weaker assertion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kokemus.analytics import kano, outcomes, text, value
from kokemus.analytics.scores import Filters
from kokemus.bootstrap import Kokemus
from kokemus.demo.appliance_shop import KANO
from kokemus.services import workspaces

AS_OF = datetime(2026, 7, 1, tzinfo=UTC)


def _shop(demo: Kokemus) -> workspaces.ActiveWorkspace:
    return workspaces.get(demo.db, "kodinkone")


def test_more_elements_perceived_go_with_a_higher_nps(demo: Kokemus) -> None:
    ws = _shop(demo)
    if not value.questions(ws.document, "b2c"):
        pytest.xfail("demo plant missing: the appliance shop asks no elements_of_value question")
    with demo.events.reading() as cur:
        r = value.report(cur, ws.id, ws.document)
    judged = [g for g in r.counts if g.nps.enough and g.nps.value is not None]
    assert len(judged) >= 3, [(g.group, g.respondents) for g in r.counts]
    low, high = judged[0], judged[-1]
    assert high.nps.low is not None and low.nps.high is not None
    assert high.nps.low > low.nps.high  # the groups' intervals do not overlap
    values = [g.nps.value for g in judged if g.nps.value is not None]
    assert values == sorted(values), values  # NPS rises with every further element


def test_informs_is_perceived_poorly(demo: Kokemus) -> None:
    ws = _shop(demo)
    if "informs" not in value.asked_elements(ws.document, "b2c"):
        pytest.xfail("demo plant missing: the appliance shop does not ask about 'informs'")
    with demo.events.reading() as cur:
        r = value.report(cur, ws.id, ws.document)
    by = {e.element: e for e in r.elements if e.asked and e.n}
    informs = by["informs"]
    others = [e for name, e in by.items() if name != "informs" and e.claimed]
    assert informs.claimed and informs.share.high is not None
    assert all(e.share.low is not None and informs.share.high < e.share.low for e in others)


def test_low_effort_customers_repurchase_more(demo: Kokemus) -> None:
    ws = _shop(demo)
    if not ws.document.insights.outcomes.repurchase:
        pytest.xfail("demo plant missing: the appliance shop names no repurchase events")
    with demo.events.reading() as cur:
        r = outcomes.report(cur, ws.id, ws.document.insights.outcomes, "repurchase",
                            as_of=AS_OF, min_n=ws.document.feedback.min_answers)
    if r.easy_vs_hard.value is not None and abs(r.easy_vs_hard.value) < 1:
        pytest.xfail("demo plant missing: repurchase does not depend on effort in the demo")
    assert r.easy_vs_hard.significant and r.easy_vs_hard.low is not None
    assert r.easy_vs_hard.low > 0  # easy answers are followed by more repurchases


def test_detractors_comments_have_distinctive_words(demo: Kokemus) -> None:
    ws = _shop(demo)
    with demo.events.reading() as cur:
        r = text.report(cur, ws.id, list(ws.document.insights.themes),
                        default_language=ws.document.languages[0])
        found = text.comments(cur, ws.id, Filters(), ws.document.languages[0])
    if r.promoters == 0:
        pytest.xfail("demo plant missing: promoters write no comments in the demo, so "
                     "there is nothing to tell detractors' words from")
    assert all(w.significant for w in r.words)
    # every significant word, not only the page's top 15 each way
    every = text.distinctive(found, "words", r.min_count, top=10_000)
    detractor_words = {w.term for w in every if w.z > 0}
    # the detractors' comments (kokemus/demo/appliance_shop.py COMMENTS): nobody told,
    # late; broken, carrier, cancellation
    planted = {"kukaan", "ilmoittaa", "kertoa", "myöhässä", "nobody", "tell", "late",
               "rikki", "kuljetusliike", "peruutus", "broken", "carrier", "cancellation"}
    assert len(detractor_words & planted) >= 2, sorted(detractor_words)
    assert not {w.term for w in every if w.z < 0} & planted  # promoters never say them


def test_the_damaged_deliveries_words_stand_out(demo: Kokemus) -> None:
    """Four in five damaged deliveries' detractors write, and every one of their Finnish
    phrases says rikki (appliance_shop.COMMENTS, DAMAGED_WRITE)."""
    ws = _shop(demo)
    with demo.events.reading() as cur:
        found = text.comments(cur, ws.id, Filters(), ws.document.languages[0])
    every = text.distinctive(found, "words", 2, top=10_000)
    damaged = {"rikki", "kuljetusliike", "peruutus", "broken", "carrier", "cancellation"}
    assert len({w.term for w in every if w.z > 0} & damaged) >= 2


def _planted(shares: dict[str, float]) -> tuple[str, float, float]:
    """A feature's planted category (its largest share) and its Better and Worse."""
    base = sum(shares.get(c, 0.0) for c in "AOMI")
    return (max(shares, key=lambda c: shares[c]), (shares["A"] + shares["O"]) / base,
            -(shares["O"] + shares["M"]) / base)


def test_kano_finds_each_features_planted_category(demo: Kokemus) -> None:
    ws = _shop(demo)
    if not kano.questions(ws.document):
        pytest.xfail("demo plant missing: the appliance shop asks no Kano question")
    with demo.events.reading() as cur:
        found = {f.result.feature: f.result for f in kano.report(cur, ws.id, ws.document)}
    assert set(found) == set(KANO)
    # planted (appliance_shop.KANO): tracking must-be, installation on the delivery day
    # one-dimensional, taking the old appliance away attractive
    assert {f: _planted(s)[0] for f, s in KANO.items()} == {
        "sms-tracking": "M", "same-day-installation": "O", "old-appliance-removal": "A"}
    for feature, shares in KANO.items():
        result = found[feature]
        category, better, worse = _planted(shares)
        assert result.n >= ws.document.feedback.min_answers, (feature, result.n)
        assert result.category == category and not result.tied, (feature, result.counts)
        # clearly first: ahead of the second category by more than its sampling noise
        first, second = sorted(result.counts.values(), reverse=True)[:2]
        assert first - second > 2 * (first + second) ** 0.5, (feature, result.counts)
        assert result.better is not None and result.worse is not None
        assert abs(result.better - better) < 0.12 and abs(result.worse - worse) < 0.12, (
            feature, result.better, better, result.worse, worse)
    # what the categories mean: lacking a must-be hurts more than having it pleases, an
    # attractive feature the other way round, a one-dimensional one both
    tracking, same_day, removal = (found[f] for f in ("sms-tracking", "same-day-installation",
                                                      "old-appliance-removal"))
    assert tracking.better is not None and tracking.worse is not None
    assert -tracking.worse > 0.5 > tracking.better
    assert removal.better is not None and removal.worse is not None
    assert removal.better > 0.5 > -removal.worse
    assert same_day.better is not None and same_day.worse is not None
    assert same_day.better > 0.5 and -same_day.worse > 0.5
