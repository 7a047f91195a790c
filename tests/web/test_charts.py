"""The charts rendered for real by vl-convert: the figures in their tooltips, the labels in both
languages, nothing that a strict Content-Security-Policy would block."""

from __future__ import annotations

import re
from datetime import date, timedelta

from kokemus.web import charts

MONDAY = date(2026, 3, 2)
NPS = charts.Measure("NPS", (-100.0, 100.0))
SHARE = charts.Measure("Pitoaste", (0.0, 1.0), percent=True)


def tips(svg: str) -> list[str]:
    """The tooltips of the data points; the first <title> names the chart."""
    return re.findall(r"<title>(.*?)</title>", svg)[1:]


def labels(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def weeks(values: list[tuple[float, int]]) -> list[dict[str, object]]:
    return [{"period": MONDAY + timedelta(days=7 * i), "value": v, "low": v - 8, "high": v + 7,
             "n": n, "enough": n >= 30} for i, (v, n) in enumerate(values)]


def assert_inline_safe(svg: str) -> None:
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for blocked in ("<script", "style=", "href", "<foreignObject", "<image", "url("):
        assert blocked not in svg, blocked


def test_score_trend_in_finnish() -> None:
    svg = charts.score_trend(weeks([(30, 400), (-12.4, 1200), (50, 12)]), "fi", NPS,
                             target=40, title="NPS ajan mittaan", element_id="trend-nps")
    assert_inline_safe(svg)
    assert 'id="trend-nps"' in svg and 'aria-label="NPS ajan mittaan"' in svg
    assert tips(svg) == [
        "2.3.2026: 30 (22\u2009–\u200937), n = 400",
        "9.3.2026: −12 (−20\u2009–\u2009−5), n = 1\u00a0200",  # minus sign, grouped n
        "16.3.2026: liian vähän vastauksia (n = 12)",  # the hollow point says why
        "Tavoite 40",
    ]
    assert {"2.3.2026", "9.3.", "16.3.", "Viikko", "NPS", "−100", "0", "100"} <= set(
        labels(svg))
    # the band and the line run through the two points with enough answers
    assert re.search(r'class="mark-area role-mark band_marks"[^>]*><path d="M[^"]+"', svg)
    assert re.search(r'class="mark-line role-mark line_marks"[^>]*><path d="M[^"]+"', svg)


def test_score_trend_in_english_by_month() -> None:
    rows = [{"period": date(2025, 12, 1), "value": 4.25, "low": 4.1, "high": 4.4, "n": 88,
             "enough": True},
            {"period": date(2026, 1, 1), "value": 4.5, "low": 4.3, "high": 4.7, "n": 1500,
             "enough": True}]
    svg = charts.score_trend(rows, "en", charts.Measure("CES", (1.0, 7.0), digits=1),
                             granularity="month")
    assert tips(svg) == ["Dec 2025: 4.3 (4.1\u2009–\u20094.4), n = 88",
                         "Jan 2026: 4.5 (4.3\u2009–\u20094.7), n = 1,500"]
    # the first tick and a year's first tick carry the year
    assert {"Dec 2025", "Jan 2026", "Month", "CES"} <= set(labels(svg))


def test_score_trend_without_answers_says_so() -> None:
    svg = charts.score_trend([{"period": MONDAY, "value": None, "low": None, "high": None,
                               "n": 0, "enough": False}], "fi", NPS)
    assert tips(svg) == [] and "Ei vielä vastauksia." in labels(svg)
    assert "No answers yet." in labels(charts.score_trend([], "en", NPS))


def test_keep_rate_trend_skips_empty_weeks() -> None:
    rows = [{"week": MONDAY + timedelta(days=7 * i), "rate": rate, "low": rate - 0.1,
             "high": min(rate + 0.05, 1.0), "n": n}
            for i, (rate, n) in enumerate([(0.9, 50), (0.0, 0), (0.755, 1234)])]
    fi = charts.keep_rate_trend(rows, "fi")
    assert_inline_safe(fi)
    assert tips(fi) == ["2.3.2026: 90\u00a0% (80\u00a0%\u2009–\u200995\u00a0%), n = 50",
                        "16.3.2026: 76\u00a0% (66\u00a0%\u2009–\u200981\u00a0%), n = 1\u00a0234"]
    assert "9.3." not in labels(fi)  # the week with no occurrence has no point and no tick
    assert {"0\u00a0%", "100\u00a0%", "Pitoaste", "Viikko"} <= set(labels(fi))
    assert 'class="mark-area role-mark band_marks"' in fi
    en = charts.keep_rate_trend(rows, "en")
    assert tips(en)[1] == "16 Mar 2026: 76% (66%\u2009–\u200981%), n = 1,234"
    assert {"0%", "100%", "Keep rate", "Week"} <= set(labels(en))


def test_bars_with_intervals_in_the_order_given() -> None:
    rows = [{"name": "Toimitus", "value": 0.55, "low": 0.4, "high": 0.7, "n": 40},
            {"name": "Asiakaspalvelu", "value": 0.82, "low": 0.7, "high": 0.9, "n": 120},
            {"name": "Ei mitattu", "value": None, "low": None, "high": None, "n": 0},
            {"name": "<script>alert(1)</script> & co", "value": 0.5, "low": 0.2,
             "high": 0.8, "n": 9}]
    svg = charts.bars_with_intervals(rows, "fi", SHARE, group_title="Osasto", target=0.8)
    assert_inline_safe(svg)
    assert tips(svg) == [
        "Toimitus: 55\u00a0% (40\u00a0%\u2009–\u200970\u00a0%), n = 40",
        "Asiakaspalvelu: 82\u00a0% (70\u00a0%\u2009–\u200990\u00a0%), n = 120",
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co: 50\u00a0% "
        "(20\u00a0%\u2009–\u200980\u00a0%), n = 9",
        "Tavoite 80\u00a0%",
    ]
    names = [label for label in labels(svg) if label in ("Toimitus", "Asiakaspalvelu")]
    assert names == ["Toimitus", "Asiakaspalvelu"] and "Ei mitattu" not in labels(svg)
    assert 'class="mark-rule role-mark intervals_marks"' in svg
    english = charts.bars_with_intervals(rows[:1], "en", SHARE)
    assert tips(english) == ["Toimitus: 55% (40%\u2009–\u200970%), n = 40"]


def test_the_same_rows_render_once() -> None:
    rows = weeks([(10, 100), (20, 100)])
    first = charts.score_trend(rows, "en", NPS)
    hits = charts._svg.cache_info().hits
    assert charts.score_trend(rows, "en", NPS) == first
    assert charts._svg.cache_info().hits == hits + 1
