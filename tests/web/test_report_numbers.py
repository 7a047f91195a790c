"""The report's figures written as the reader's language writes them: Finnish with a decimal
comma, a true minus sign and a no-break space between thousands, English with a decimal point
and a comma between thousands; in the HTML file and page, and in the terminal. JSON keeps the
numbers as numbers."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from kokemus.cli.common import out
from kokemus.cli.report import _terminal
from kokemus.services import report
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web.i18n import number
from kokemus.web.report import html_file

NNBSP = "\u202f"  # between thousands in Finnish
MINUS = "\u2212"


def known() -> report.Report:
    """A report with figures whose text is known: a group 10 % of 1,500 answers scoring NPS
    −74.2 against 37.2, worth 11.16 points; a keep rate of 37.2 % (30.1 – 45.0) over 1,234
    occurrences; a delivery NPS 12.8 points under its target."""
    found = report.Report("my-company", datetime(2026, 7, 1, tzinfo=UTC))
    found.fixes = [report.Fix("group", "property:carrier=Kiito", 11.16, {
        "dimension": "property:carrier", "n": 1500, "nps_group": -74.2, "nps_rest": 37.2,
        "share": 0.1})]
    keep_rate = {"kind": "keep_rate", "n": 1234, "value": 37.2, "low": 30.1, "high": 45.0,
                 "enough": True}
    found.sections["promises"] = {"cards": [{
        "commitment": "delivered-48h", "overall": {"keep_rate": keep_rate, "kept": 459,
                                                   "broken": 775, "open": 1020}}]}
    found.sections["gaps"] = {"touchpoints": [{
        "touchpoint": "delivery", "delivery": [], "experience": {"dimensions": []},
        "scores": [{"kind": "nps", "target": 50, "measured": {"value": 37.2},
                    "gap": {"enough": True, "value": -12.8, "low": -20.4, "high": -5.2}}]}]}
    return found


def text_of(html: str) -> str:
    """The page's text as a reader sees it (tags out, &nbsp; as the character)."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&nbsp;", "\u00a0")


@pytest.mark.parametrize(("value", "language", "digits", "shown"), [
    (1_000_000, "fi", 0, f"1{NNBSP}000{NNBSP}000"), (1_000_000, "en", 0, "1,000,000"),
    (-74.2, "fi", 0, f"{MINUS}74"), (37.24, "fi", 1, "37,2"), (37.24, "en", 1, "37.2"),
    (-1234.56, "fi", 1, f"{MINUS}1{NNBSP}234,6"), (-1234.56, "en", 1, f"{MINUS}1,234.6"),
    (-0.04, "fi", 1, "0,0"),  # no minus sign on a zero
])
def test_number(value: float, language: str, digits: int, shown: str) -> None:
    assert number(value, language, digits) == shown
    assert number(12.5, "en", 1, signed=True) == "+12.5"


def test_the_html_report_in_finnish_and_english(workspace: ActiveWorkspace) -> None:
    found = known()
    fi = text_of(html_file(found, workspace, "fi"))
    assert "arvo 11,2 NPS-pistettä" in fi
    assert f"10 % vastauksista (n = 1{NNBSP}500) antaa NPS:n {MINUS}74, muut 37." in fi
    assert f"37\u00a0% (30\u2009–\u200945) n = 1{NNBSP}234" in fi
    assert f"1{NNBSP}020" in fi  # open occurrences
    assert f"{MINUS}12,8 ({MINUS}20,4\u2009–\u2009{MINUS}5,2)" in fi and "37,2" in fi
    assert "-74" not in fi and "37.2" not in fi and "11.2" not in fi

    en = text_of(html_file(found, workspace, "en"))
    assert "worth 11.2 NPS points" in en
    assert "n = 1,500" in en and f"NPS {MINUS}74 against 37 for the rest" in en
    assert "37\u00a0% (30\u2009–\u200945) n = 1,234" in en
    assert f"{MINUS}12.8 ({MINUS}20.4\u2009–\u2009{MINUS}5.2)" in en
    # JSON stays numbers
    assert json.loads(json.dumps(found.as_dict()))["fixes"][0]["evidence"]["nps_group"] == -74.2


def test_the_terminal_report_in_finnish_and_english(workspace: ActiveWorkspace) -> None:
    # the evidence is written in words from the catalogs, as on the page (it was the JSON's
    # keys, "nps_group −74,2", in a Finnish report)
    found = known()
    console = out.current()  # `out` forwards to it; its width is the console's
    # restored as it was: unset (read from the terminal each time), not pinned at today's
    # width, which made a later CLI test's table wrap
    width = console._width
    console.width = 200
    try:
        with out.capture() as fi:
            _terminal(found, workspace, "fi")
        with out.capture() as en:
            _terminal(found, workspace, "en")
    finally:
        console._width = width
    assert "11,2" in fi.get() and f"antaa NPS:n {MINUS}74, muut 37." in fi.get()
    assert f"(n = 1{NNBSP}500)" in fi.get()
    assert f"37\u00a0% (30\u2009–\u200945) n = 1{NNBSP}234" in fi.get()
    assert f"1{NNBSP}020" in fi.get() and "nps_group" not in fi.get()
    assert "11.2" in en.get() and f"score NPS {MINUS}74 against 37 for the rest" in en.get()
    assert "(n = 1,500)" in en.get() and "1,020" in en.get()
