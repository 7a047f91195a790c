"""Every section of the report as a reader sees it, on the web page and in the one-file HTML
in Finnish and English, and in the terminal: a report with known figures for each section
(the promise costs, where NPS is worst, the gaps, the drivers, the elements of value, Kano,
the outcomes by effort and NPS group, the silent moments, what customers say, the signals
and the journeys' drop-off), each figure with its interval and n where it has them, the
sections left out with the report's reason; then the same over a store with answers, where
the figures are the planted ones."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kokemus import bootstrap
from kokemus.cli import app
from kokemus.cli.common import out
from kokemus.cli.report import _terminal
from kokemus.domain import scores as score_math
from kokemus.services import report
from kokemus.services import workspaces as workspace_service
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import i18n
from kokemus.web import report as report_pages
from kokemus.web.report import html_file
from kokemus.web.report_view import TITLES
from tests.cli.test_cli import home, open_stores  # noqa: F401  (the fixture)
from tests.web.test_pages import anna, events, log_in  # noqa: F401  (the fixture)
from tests.web.test_report_numbers import MINUS, NNBSP, known, text_of
from tests.web.test_value_page import answered  # noqa: F401  (the fixture)

NBSP, THIN = "\u00a0", "\u2009"
SECTIONS = sorted({key.split(".")[0] for key in i18n.catalog("en")}, key=len, reverse=True)
UNTRANSLATED = re.compile(rf"\b(?:{'|'.join(SECTIONS)})\.[a-z_]+(?:\.[a-z_]+)*\b")


def read(html: str) -> str:
    """What a reader may see: the text without the inlined style sheets."""
    return text_of(re.sub(r"<style>.*?</style>", "", html, flags=re.S))


def score(value: float | None, low: float | None, high: float | None, n: int,
          enough: bool = True, kind: str = "nps") -> dict[str, Any]:
    return {"kind": kind, "n": n, "value": value, "low": low, "high": high, "enough": enough}


def full() -> report.Report:
    """known() with every other section, each with figures whose text is known."""
    found = known()
    s = found.sections
    s["costs"] = [{
        "promise": "fast-delivery", "commitment": "delivered-48h",
        "kept": {"occurrences": 900}, "broken": {"occurrences": 334},
        "nps_difference": {"kind": "nps", "before": score(41.5, 35.2, 47.9, 480),
                           "after": score(-12.3, -25.0, 1.4, 130), "difference": -53.8,
                           "significant": True},
        "ces_difference": {"kind": "ces", "before": score(5.62, 5.4, 5.8, 480, kind="ces"),
                           "after": score(3.9, 3.5, 4.3, 12, False, "ces"),
                           "difference": None, "significant": False},
        "outcome_difference": None}]
    s["worst"] = [{"dimension": "event:delivery_damaged", "key": "yes",
                   "group": score(-74.2, -85.0, -60.1, 150),
                   "rest": score(37.2, 33.0, 41.0, 1350), "difference": -111.4,
                   "low": -124.3, "high": -98.7, "share": 0.1}]
    s["drivers"] = {"drivers": [{
        "driver": "delivery:ces", "touchpoint": "delivery", "kind": "ces", "question": None,
        "item": None, "share": 0.754, "low": 0.554, "high": 0.899, "performance": 0.697,
        "n": 214, "n_with_outcome": 214, "enough": True}],
        "r2": 0.3896, "r2_low": 0.2905, "r2_high": 0.5283, "used": 214, "enough": True,
        "respondents": 214, "min_answers": 30}
    s["value"] = {
        "kind": "b2c", "questions": [{"survey": "value", "question": "eov"}],
        "respondents": 1234, "mean_perceived": 2.94,
        "claimed_share": score(46.3, 42.6, 50.0, 700, kind="share"),
        "unclaimed_share": score(62.9, 54.6, 70.4, 140, kind="share"),
        "elements": [{"element": "saves_time", "level": "functional", "claimed": True,
                      "asked": True, "n": 140, "perceived": 73,
                      "share": score(52.1, 44.0, 60.1, 140, kind="share"), "mean": 3.5}],
        "by_count": [{"group": "0", "respondents": 12,
                      "share": score(8.6, 5.0, 14.4, 140, kind="share"),
                      "nps": score(-91.7, -100.0, -45.8, 12, False)},
                     {"group": "5+", "respondents": 31,
                      "share": score(22.1, 16.0, 29.8, 140, kind="share"),
                      "nps": score(93.5, 71.2, 98.9, 31)}]}
    s["kano"] = [{"survey": "value", "question": "features", "feature": "tracking", "n": 45,
                  "counts": {"M": 30}, "category": "M", "category_name": "must_be",
                  "tied": [], "better": 0.31, "worse": -0.72}]
    s["outcomes"] = {
        "outcome": "repurchase", "events": ["order_placed"], "days": 90,
        "as_of": "2026-07-01T00:00:00+00:00", "judged": 1040, "open": 179,
        "overall": score(7.5, 2.6, 19.9, 1040, kind="share"),
        "by_effort": [{"group": "easy", "followed": 50,
                       "share": score(12.5, 9.6, 16.1, 400, kind="share")},
                      {"group": "hard", "followed": 0,
                       "share": score(0.0, 0.0, 39.0, 6, False, "share")}],
        "by_nps": [{"group": "promoter", "followed": 40,
                    "share": score(20.0, 15.0, 26.2, 200, kind="share")}],
        "easy_vs_hard": {"a": "easy", "b": "hard", "value": 10.0, "low": -0.7, "high": 20.7,
                         "significant": False},
        "promoter_vs_detractor": {"a": "promoter", "b": "detractor", "value": 15.0,
                                  "low": 4.2, "high": 25.8, "significant": True}}
    s["silent_moments"] = {
        "moments": [{"touchpoint": "order", "formula": "...", "inputs": {
            "people_per_occasion": 40, "people_source": "workspace", "share_buying": 0.125,
            "basket": 20, "occasions_per_day": 13, "days_per_year": 360},
            "traffic": {"touchpoint": "order", "events": 10, "days": 3, "per_day": 3.3},
            "per_occasion": 100.0, "per_day": 1300.0, "per_year": 468000.0}],
        "candidates": [{"touchpoint": "delivery", "events": 2000, "days": 100,
                        "per_day": 20.0}]}
    s["comments"] = {
        "comments": 1051, "detractors": 28, "promoters": 23,
        "words": [{"term": "rikki", "z": 2.51, "significant": True, "count_i": 9,
                   "count_j": 0},
                  {"term": "nopea", "z": -2.2, "significant": True, "count_i": 0,
                   "count_j": 7}],
        "phrases": [{"term": "kukaan ilmoittaa", "z": 2.02, "significant": True,
                     "count_i": 7, "count_j": 0}],
        "themes": [{"theme": "broken", "mentions": 12,
                    "share": score(23.5, 14.0, 36.8, 51, kind="share"),
                    "nps": score(-58.3, -80.0, -20.0, 12, False),
                    "nps_others": score(10.3, -5.0, 25.0, 39)}],
        "touchpoints": [{"touchpoint": "delivery", "comments": 31,
                         "nps": score(-16.1, -47.2, 17.8, 31)}]}
    s["signals"] = [{"id": "no_social_listening", "fired": True, "severity": "high",
                     "summary": {"days": 90, "channels": ["web"]}, "evidence": [],
                     "link": "signals"}]
    s["dropoff"] = [{"journey": "purchase", "goal": "delivery",
                     "outcomes": {"reached": 1234, "in_flight": 56, "lost": 789},
                     "stalls": [{"touchpoint": "order", "steps": 2000, "median_s": 36000.0,
                                 "p90_s": 172800.0}]}]
    found.fixes[0].evidence.update(low=-124.3, high=-98.7)  # the Kiito group's difference
    found.fixes = [report.Fix("commitment", "delivered-48h", 14.56, {
        "promise": "fast-delivery", "broken": 334, "judged": 1234, "nps_kept": 41.5,
        "nps_broken": -12.3, "difference": -53.8}), *found.fixes]
    return found


def lost_share(language: str) -> str:
    """The drop-off's lost share 789 / (789 + 1234) with its Wilson interval, as written."""
    s = score_math.keep_rate(789, 789 + 1234, 30)
    assert s.low is not None and s.high is not None

    def n(x: float) -> str:
        return i18n.number(x, language)

    return f"{n(s.value or 0)}{NBSP}% ({n(s.low)}{THIN}–{THIN}{n(s.high)}) n = {n(2023)}"


# What a reader sees of each section, by language: its title and figures.
SEEN = {
    "fi": [
        "Kolme asiaa korjattavaksi ensin",
        f"Toimitettu 48 tunnin kuluessa tilauksesta : arvo 14,6 NPS-pistettä. 334/1{NNBSP}234 "
        "rikottu; NPS 42 pidetyn jälkeen, −12 rikotun jälkeen.",
        f"Ero {MINUS}111 (95 %:n luottamusväli {MINUS}124{THIN}–{THIN}{MINUS}99).",
        "Mitä rikottu lupaus maksaa",
        f"42 (35{THIN}–{THIN}48) n = 480", f"{MINUS}12 ({MINUS}25{THIN}–{THIN}1) n = 130",
        f"{MINUS}54 merkitsevä muutos", f"5,6 (5,4{THIN}–{THIN}5,8) n = 480",
        "liian vähän n = 12",
        "Missä NPS on heikoin", f"polulla tapahtuma delivery_damaged 10{NBSP}%",
        f"{MINUS}74 ({MINUS}85{THIN}–{THIN}{MINUS}60) n = 150",
        f"37 (33{THIN}–{THIN}41) n = 1{NNBSP}350",
        f"{MINUS}111 ({MINUS}124{THIN}–{THIN}{MINUS}99)",
        "Suosittelun avaintekijät",
        f"R² = 0,39 (0,29{THIN}–{THIN}0,53), n = 214",
        f"Toimitus · CES 75{NBSP}% (55{THIN}–{THIN}90) n = 214 70{NBSP}%",
        "Asiakasarvon elementit",
        f"1{NNBSP}234 vastaajaa, keskimäärin 2,9 koettua elementtiä.",
        f"46{NBSP}% (43{THIN}–{THIN}50), n = 700",
        f"Säästää aikaa Toiminnallinen luvattu 52{NBSP}% (44{THIN}–{THIN}60) n = 140",
        "0 elementtiä 12", "liian vähän n = 12",
        f"5+ elementtiä 31 22{NBSP}% (16{THIN}–{THIN}30) n = 140 94 (71{THIN}–{THIN}99) n = 31",
        "Kano", "pakollinen", "0,31", f"{MINUS}0,72",
        "Mitä vastauksen jälkeen tapahtui",
        f"1{NNBSP}040 vastausta arvioitu 1.7.2026 mennessä, 179 vielä kesken.",
        f"Helppo (CES 5–7) 12{NBSP}% (10{THIN}–{THIN}16) n = 400",
        "Vaikea (CES 1–3) liian vähän n = 6",
        "Suosittelijat verrattuna arvostelijoihin: +15 prosenttiyksikköä (+4",
        "Hiljaiset hetket",
        f"40 × 12,5{NBSP}% × 20{NBSP}€ × 13 × 360", f"1{NNBSP}300{NBSP}€",
        f"468{NNBSP}000{NBSP}€", "Toimitus (20 päivässä)",
        "Mitä asiakkaat sanovat", f"1{NNBSP}051 kommentista", "rikki (+2,5)",
        "kukaan ilmoittaa (+2,0)", f"nopea ({MINUS}2,2)", "broken 12",  # no such theme: its id
        f"24{NBSP}% (14{THIN}–{THIN}37) n = 51", f"{MINUS}16 ({MINUS}47{THIN}–{THIN}18) n = 31",
        "Viisi varoitusmerkkiä", "Sosiaalista mediaa ei kuunnella", "Vakava",
        "sosiaalisen median kanavat: Verkkokauppa",
        "Matkojen keskeytyminen", f"Ostopolku Toimitus 1{NNBSP}234 56 789",
        f"Tilaus 2{NNBSP}000 10{NBSP}h 48{NBSP}h",
        "Kuilut", f"{MINUS}12,8 ({MINUS}20,4{THIN}–{THIN}{MINUS}5,2)",
    ],
    "en": [
        "The three things to fix first",
        f"Delivered within 48 h of the order : worth 14.6 NPS points. 334 of 1,234 broken;"
        f" NPS 42 after kept, {MINUS}12 after broken.",
        f"Difference {MINUS}111 (95 % interval {MINUS}124{THIN}–{THIN}{MINUS}99).",
        "What a broken promise costs", f"{MINUS}54 significant change",
        f"5.6 (5.4{THIN}–{THIN}5.8) n = 480",
        "Where NPS is worst", f"had the event delivery_damaged 10{NBSP}%",
        f"37 (33{THIN}–{THIN}41) n = 1,350",
        "Key drivers of recommendation", f"R² = 0.39 (0.29{THIN}–{THIN}0.53) of NPS, n = 214",
        "Elements of value", "1,234 respondents, on average 2.9 elements perceived.",
        f"Saves time Functional claimed 52{NBSP}% (44{THIN}–{THIN}60) n = 140",
        "must-be", "0.31", f"{MINUS}0.72",
        "Outcomes after an answer", "1,040 answers judged as of 1 Jul 2026, 179 whose",
        f"Easy (CES 5–7) 12{NBSP}% (10{THIN}–{THIN}16) n = 400", "Hard (CES 1–3) too few n = 6",
        "Promoters against detractors: +15 points (+4",
        "Silent moments", f"40 × 12.5{NBSP}% × 20{NBSP}€ × 13 × 360", f"468,000{NBSP}€",
        "Delivery (20 a day)",
        "What customers say", "1,051 comments", "rikki (+2.5)", f"nopea ({MINUS}2.2)",
        "The five warning signals", "No listening channel for social media", "Serious",
        "Journey drop-off", "Purchase journey Delivery 1,234 56 789",
        f"Order 2,000 10{NBSP}h 48{NBSP}h",
        "Gaps", f"{MINUS}12.8 ({MINUS}20.4{THIN}–{THIN}{MINUS}5.2)",
    ],
}


@pytest.mark.parametrize("language", ["fi", "en"])
def test_every_section_in_the_file(workspace: ActiveWorkspace, language: str) -> None:
    html = html_file(full(), workspace, language)
    text = read(html)
    for seen in [*SEEN[language], lost_share(language)]:
        assert seen in text, seen
    # in the order of TITLES, each with its heading
    t = i18n.translator(language)
    headings = re.findall(r"<h2 [^>]*>([^<]*)</h2>", html)
    assert headings == [t(TITLES[name]) for name in TITLES], headings
    # a chart where one reads better than the tables, each its own SVG, inside the file
    for chart in ("fixes-chart", "promises-chart", "drivers-chart", "value-nps-chart",
                  "kano-chart", "outcome-chart", "silent-chart", "dropoff-chart"):
        assert f'id="{chart}"' in html, chart
    assert UNTRANSLATED.findall(text) == []
    assert "-74" not in text and "nps_group" not in text


def loads_nothing(html: str) -> None:
    """No script, no link, no source or reference to anything outside the file: every URL
    in it is an SVG namespace, a data: URL or in a comment of the inlined style sheets."""
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert re.search(r"""\s(?:src|href|xlink:href|srcset|action)\s*=""", html) is None
    assert all(u.startswith(("data:", '"data:', "'data:"))
               for u in re.findall(r"url\(\s*([^)]*)", html))
    outside = re.sub(r"/\*.*?\*/", "", html, flags=re.S)  # the style sheets' comments
    found = set(re.findall(r"https?://[^\s\"'<>)]+", outside))
    assert found <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, found


def test_the_file_loads_nothing_and_says_what_is_left_out(
        workspace: ActiveWorkspace) -> None:
    found = full()
    loads_nothing(html_file(found, workspace, "fi"))
    del found.sections["outcomes"]
    found.missing["outcomes"] = "the workspace names no repurchase event"
    for language, heading, says in (
            ("fi", "Mitä vastauksen jälkeen tapahtui", "Jätetty pois:"),
            ("en", "Outcomes after an answer", "Left out:")):
        text = read(html_file(found, workspace, language))
        assert f"{heading} {says} the workspace names no repurchase event" in text


@pytest.mark.parametrize("language", ["fi", "en"])
def test_every_section_on_the_page(client: TestClient, workspace: ActiveWorkspace,
                                   anna: str, language: str,  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_pages.reports, "build", lambda *a, **k: full())
    log_in(client)
    client.get(f"/language/{language}")
    page = client.get("/w/my-company/report")
    assert page.status_code == 200
    assert "<script" not in page.text and " style=" not in page.text
    text = read(page.text)
    for seen in [*SEEN[language], lost_share(language)]:
        assert seen in text, seen
    assert UNTRANSLATED.findall(text) == []


def test_the_terminal_in_finnish(workspace: ActiveWorkspace) -> None:
    """Every heading and label in Finnish, from the same catalogs as the page; no English
    heading, no catalog key left as it is."""
    console = out.current()
    width = console.width
    console.width = 240
    try:
        with out.capture() as captured:
            _terminal(full(), workspace, "fi")
    finally:
        console.width = width
    shown = captured.get()
    text = " ".join(re.sub("[│┃]", " ", shown).split())  # the cells, as on the page
    fi, en = i18n.translator("fi"), i18n.translator("en")
    for name, key in TITLES.items():
        assert fi(key) in shown, name
        if en(key) != fi(key):
            assert en(key) not in shown, name
    for label in ("Pitoaste", "Pidetty", "Rikottu", "Avoinna", "Sitoumus", "Varoitusmerkki",
                  "Vakavuus", "Mitä data kertoo", "Osuus R²:sta", "Suoritus", "Elementti",
                  "Koettu", "Kommentoijien NPS", "Menetetyt", "Odotus (mediaani)"):
        assert label in shown, label
    for english in ("keep rate", "Keep rate", "promise scorecard", "warning signals",
                    "fix first", "evidence", "severity", "fired", "driver", "left out"):
        assert english not in shown, english
    for seen in SEEN["fi"]:
        if "Toimitettu 48 tunnin" not in seen:  # a list item: no space before its colon
            assert " ".join(seen.split()) in text, seen
    assert UNTRANSLATED.findall(shown) == []


# ------------------------------------------------------------------ over a store with answers


def test_the_page_and_the_file_over_answers(
        client: TestClient, kk: bootstrap.Kokemus, answered: ActiveWorkspace  # noqa: F811
) -> None:
    """test_value_page's store (40 answers: every odd one a promoter who saves time, answers
    'easy' and orders again within five days; the order touchpoint sized as the article's
    bus, 468,000 € a year) plus journeys: 12 reach the delivery, 8 stop after the order."""
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    journeys: list[dict[str, object]] = []
    for i in range(20):
        ordered = start + timedelta(hours=i)
        journeys.append({"id": f"jo{i}", "type": "order_placed", "customer": f"j{i}",
                         "channel": "web", "occurred_at": ordered.isoformat()})
        if i < 12:
            journeys.append({"id": f"jd{i}", "type": "delivered", "customer": f"j{i}",
                             "channel": "web",
                             "occurred_at": (ordered + timedelta(hours=30)).isoformat()})
    ingest_events(journeys, answered, kk.events)
    found = report.build(kk, answered)
    drop = found.sections["dropoff"][0]["outcomes"]
    assert drop["reached"] == 13  # the 12 and the fixture's one late delivery
    for language in ("fi", "en"):
        client.get(f"/language/{language}")
        page = client.get("/w/my-company/report")
        assert page.status_code == 200
        text = read(page.text)
        t = i18n.translator(language)
        for name in found.sections:
            if name in TITLES:
                assert t(TITLES[name]) in text, name
        money = i18n.number(468000, language) + NBSP + "€"
        assert money in text
        saves = "Säästää aikaa" if language == "fi" else "Saves time"
        assert re.search(rf"{saves} \S+ \S+ 50{NBSP}% \(", text), saves
        easy = "Helppo (CES 5–7)" if language == "fi" else "Easy (CES 5–7)"
        assert f"{easy} 100{NBSP}% (" in text
        reached = i18n.number(drop["reached"], language)
        lost = i18n.number(drop["lost"], language)
        assert re.search(rf" {reached} {drop['in_flight']} {lost} ", text), (reached, lost)
        assert UNTRANSLATED.findall(text) == []
    html = html_file(found, answered, "fi")
    loads_nothing(html)
    assert f"468{NNBSP}000{NBSP}€" in read(html)
    for chart in ("value-nps-chart", "outcome-chart", "silent-chart", "dropoff-chart"):
        assert f'id="{chart}"' in html, chart


def test_the_terminal_report_in_finnish_from_the_cli(home: Path) -> None:  # noqa: F811
    """`kokemus report --language fi` as a user runs it: 40 orders, 19 delivered within
    48 h: the headings and the keep rate in Finnish."""
    with open_stores(home) as kk:
        ingest_events(events(40), workspace_service.get(kk.db, "my-company"), kk.events)
    result = CliRunner().invoke(app, ["report", "--language", "fi", "--as-of", "2026-04-01"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = result.output
    for heading in ("Asiakaskokemusraportti: Yritykseni", "Kolme asiaa korjattavaksi ensin",
                    "Lupausten pitäminen", "Matkojen keskeytyminen", "Viisi varoitusmerkkiä",
                    "Pitoaste", "Sitoumus"):
        assert heading in shown, heading
    assert f"48{NBSP}% (33{THIN}–{THIN}63) n = 40" in shown  # 19 of 40 kept
    for english in ("promise scorecard", "keep rate", "warning signals", "left out"):
        assert english not in shown.lower(), english
    assert UNTRANSLATED.findall(shown) == []
