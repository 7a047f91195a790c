"""Known answers for the insight methods: Kano categories and coefficients on a hand-made
set, the log-odds z-score computed by hand, the article's bus (468,000 € a year), element
counts and themes."""

from __future__ import annotations

import math

import pytest

from kokemus.domain import kano, text, value
from kokemus.domain.insights import Insights, SilentMoment, opportunity


def test_kano_table_cells() -> None:
    assert kano.category("like", "dislike") == "O"
    assert kano.category("like", "neutral") == "A"
    assert kano.category("expect", "dislike") == "M"
    assert kano.category("neutral", "neutral") == "I"
    assert kano.category("dislike", "like") == "R"
    assert kano.category("like", "like") == "Q"
    assert kano.category("dislike", "dislike") == "Q"
    assert kano.category("live_with", "expect") == "I"
    with pytest.raises(ValueError, match="like, expect"):
        kano.category("love", "dislike")


def test_kano_category_and_better_worse_by_hand() -> None:
    # 10 respondents: A 4 (like/neutral 3, like/expect 1), O 3, M 2, I 1
    pairs = {("like", "neutral"): 3, ("like", "expect"): 1, ("like", "dislike"): 3,
             ("expect", "dislike"): 2, ("neutral", "neutral"): 1}
    r = kano.classify("express", pairs)
    assert r.n == 10
    assert r.counts == {"A": 4, "O": 3, "M": 2, "I": 1, "R": 0, "Q": 0}
    assert r.category == "A" and r.tied == ()
    assert r.better == pytest.approx(7 / 10)  # (A + O) / (A + O + M + I)
    assert r.worse == pytest.approx(-5 / 10)  # -(O + M) / (A + O + M + I)


def test_kano_reverse_and_questionable_are_left_out_of_the_coefficients() -> None:
    r = kano.classify("f", {("expect", "dislike"): 2, ("dislike", "like"): 2,
                            ("like", "like"): 1, ("like", "dislike"): 1})
    assert r.counts["M"] == 2 and r.counts["R"] == 2 and r.counts["Q"] == 1
    assert r.category == "M" and r.tied == ("M", "R")  # a tie goes to must-be
    assert r.better == pytest.approx(1 / 3) and r.worse == pytest.approx(-1.0)
    empty = kano.classify("g", {})
    assert empty.category is None and empty.better is None and empty.n == 0


def test_log_odds_z_by_hand() -> None:
    # detractors say "rikki" 8 times of 20 words, promoters 1 of 20; background = both groups
    detractors = {"rikki": 8, "kiitos": 2, "toimitus": 10}
    promoters = {"rikki": 1, "kiitos": 9, "toimitus": 10}
    background = {"rikki": 9, "kiitos": 11, "toimitus": 20}
    alpha = text.prior(background, strength=40)
    assert alpha == {"rikki": 9.0, "kiitos": 11.0, "toimitus": 20.0}
    found = {d.term: d for d in text.log_odds(detractors, promoters, alpha)}
    a0 = 40
    delta = (math.log((8 + 9) / (20 + a0 - 8 - 9)) - math.log((1 + 9) / (20 + a0 - 1 - 9)))
    se = math.sqrt(1 / (8 + 9) + 1 / (1 + 9))
    assert found["rikki"].delta == pytest.approx(delta)
    assert found["rikki"].z == pytest.approx(delta / se)
    # by hand: log(17/43) - log(10/50) = -0.92799 + 1.60944 = 0.68145;
    # se = sqrt(1/17 + 1/10) = 0.39853; z = 1.70993
    assert found["rikki"].z == pytest.approx(1.70993, abs=1e-4)
    assert found["kiitos"].z < 0
    assert found["toimitus"].z == pytest.approx(0.0)
    ranked = text.log_odds(detractors, promoters, alpha)
    assert [d.term for d in ranked] == ["rikki", "toimitus", "kiitos"]


def test_the_prior_defaults_to_the_background_counts() -> None:
    assert text.prior({"a": 3, "b": 1}) == {"a": 3.0, "b": 1.0}
    assert text.prior({"a": 3, "b": 1}, strength=8) == {"a": 6.0, "b": 2.0}
    assert text.prior({}) == {}


def test_finnish_and_english_comments_are_lemmatised_offline() -> None:
    fi = text.terms("Kuljetusliike rikkoi pesukoneen, eikä kukaan kertonut minulle.", "fi")
    assert fi.words == ("kuljetusliike", "rikkoa", "pesukone", "kukaan", "kertoa")
    assert "kuljetusliike rikkoa" in fi.phrases and "kukaan kertoa" in fi.phrases
    en = text.terms("The deliveries were late and nobody told me.", "en")
    assert en.words == ("delivery", "late", "nobody", "tell")
    assert en.phrases == ("nobody tell",)  # "late and nobody": a stop word breaks a phrase
    assert text.mentions({"fi": ["kuljetus", "kuljetusliike"], "en": ["carrier"]}, fi, "fi")
    assert not text.mentions({"fi": ["hinta"]}, fi, "fi")
    assert text.mentions({"fi": ["nobody tell"]}, en, None)  # no list for it: every language


def test_silent_moment_the_articles_bus() -> None:
    # 40 passengers, 5 buy for 20 €: 100 € a bus; 13 buses a day; 360 days
    assert opportunity(40, 5 / 40, 20, 13, 360) == pytest.approx(468_000)
    bus = SilentMoment(touchpoint="bus", people_per_occasion=40, share_buying=0.125,
                       basket=20, occasions_per_day=13)
    assert bus.days_per_year == 360


def test_silent_moments_and_themes_are_validated() -> None:
    found = Insights.model_validate({
        "silent_moments": [{"touchpoint": "bus", "share_buying": 0.1, "basket": 20},
                           {"touchpoint": "bus", "share_buying": 0.1, "basket": 20},
                           {"touchpoint": "nowhere", "share_buying": 0.1, "basket": 20}],
        "themes": [{"id": "delivery", "name": "Delivery", "lemmas": {"fi": ["toimitus"]}},
                   {"id": "delivery", "name": "Again", "lemmas": {"en": ["delivery"]}}],
    }).problems({"bus"})
    messages = [m for _, m in found]
    assert "duplicate id 'delivery'" in messages
    assert "touchpoint 'bus' is sized twice" in messages
    assert any("unknown touchpoint 'nowhere'" in m for m in messages)
    with pytest.raises(ValueError, match="less than or equal to 1"):
        SilentMoment(touchpoint="bus", share_buying=1.5, basket=20)
    with pytest.raises(ValueError):
        Insights.model_validate({"themes": [{"id": "x", "name": "X", "lemmas": {}}]})
    with pytest.raises(ValueError):
        Insights.model_validate({"themes": [{"id": "x", "name": "X",
                                             "lemmas": {"fi": ["three word phrase"]}}]})


def test_element_lists_and_counts() -> None:
    assert len(value.ordered("b2c")) == 30 and len(value.ordered("b2b")) == 40
    assert value.level_of("informs", "b2c") == "functional"
    assert value.level_of("self_transcendence", "b2c") == "social_impact"
    assert value.level_of("expertise", "b2b") == "ease_of_doing_business"
    assert [value.count_group(k) for k in (0, 1, 4, 5, 9)] == ["0", "1", "4", "5+", "5+"]
    assert value.count_groups() == ("0", "1", "2", "3", "4", "5+")
    assert value.perceived(4) and not value.perceived(3)
