"""The demo's planted insight truths (docs/demo.md), found by the insight analyses: customers
who perceive more elements of value give a higher NPS, `informs` is perceived poorly, low
effort goes with more repurchase, and detractors' comments have words of their own.

Each test first checks that the demo plants what it looks for; where the plant is missing
the test is an expected failure that names the plant, never a weaker assertion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kokemus.analytics import outcomes, text, value
from kokemus.analytics.scores import Filters
from kokemus.bootstrap import Kokemus
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


@pytest.mark.xfail(reason="demo plant too weak: at the test demo's 8,000 customers the damaged "
                          "deliveries' words (rikki, kuljetusliike, peruutus) are 2-3 uses each, "
                          "z ~ 1.1-1.4", strict=False)
def test_the_damaged_deliveries_words_stand_out(demo: Kokemus) -> None:
    ws = _shop(demo)
    with demo.events.reading() as cur:
        found = text.comments(cur, ws.id, Filters(), ws.document.languages[0])
    every = text.distinctive(found, "words", 2, top=10_000)
    damaged = {"rikki", "kuljetusliike", "peruutus", "broken", "carrier", "cancellation"}
    assert len({w.term for w in every if w.z > 0} & damaged) >= 2
