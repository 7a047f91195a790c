"""The report as HTML: the web page (/w/{ws}/report) and the one self-contained, printable
file `kokemus report --format html` writes; both from the same template (report_body.html)
and the same figures (services/report.py), charts inline as SVG (kokemus.web.charts)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.api.auth import kokemus
from kokemus.domain.texts import localized
from kokemus.services import report as reports
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import charts, i18n, sessions
from kokemus.web.page import HERE, Analyst, render, templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
STYLES = ("vendor/pico.min.css", "kokemus.css", "scores.css")  # inlined: the file loads nothing


def context(found: reports.Report, ws: ActiveWorkspace, language: str) -> dict[str, Any]:
    """What report_body.html shows: the plain figures, names in the language, the charts."""
    t = i18n.translator(language)
    doc = ws.document
    names: dict[str, str] = {d.id: localized(d.name, language) for d in doc.departments}
    names.update({tp.id: localized(tp.name, language) for tp in doc.touchpoints()})
    names.update({c.id: localized(c.text, language) for _, c in doc.commitments()})
    data = found.as_dict()
    chart_of: dict[str, Markup] = {}
    if found.fixes:
        chart_of["fixes"] = charts.bars_with_intervals(
            [{"name": _fix_name(f.what, names), "value": f.gain, "low": f.gain,
              "high": f.gain, "n": f.evidence.get("n", f.evidence.get("judged", 0))}
             for f in found.fixes], language,
            charts.Measure(t("report.gain_axis"), (0.0, max(f.gain for f in found.fixes) * 1.2),
                           digits=1),
            group_title=t("report.fix"), title=t("report.fixes"), element_id="fixes-chart")
    cards = data["sections"].get("promises", {}).get("cards", [])
    rates = [{"name": names.get(c["commitment"], c["commitment"]),
              "value": c["overall"]["keep_rate"]["value"] / 100,
              "low": c["overall"]["keep_rate"]["low"] / 100,
              "high": c["overall"]["keep_rate"]["high"] / 100,
              "n": c["overall"]["keep_rate"]["n"]}
             for c in cards if c.get("overall") and c["overall"]["keep_rate"]["enough"]]
    if rates:
        chart_of["promises"] = charts.bars_with_intervals(
            rates, language, charts.Measure(t("charts.keep_rate"), (0.0, 1.0), percent=True),
            group_title=t("promises.commitment"), title=t("promises.title"),
            element_id="promises-chart")
    return {"report": data, "names": names, "charts": chart_of,
            "workspace_name": localized(doc.name, language), "slug": ws.slug,
            "as_of": i18n.moment(found.as_of, language), "fix_name": lambda w: _fix_name(w, names),
            **numbers(language)}


def numbers(language: str) -> dict[str, Callable[..., str]]:
    """How report_body.html writes its figures in `language` (i18n.number): `num(value,
    digits=0, signed=False)` ("−74", "37,2", "1 000"), `interval(low, high, digits=0)`
    ("30 – 45"); a missing figure as "–"."""

    def num(value: float | None, digits: int = 0, signed: bool = False) -> str:
        return "–" if value is None else i18n.number(value, language, digits, signed=signed)

    def interval(low: float | None, high: float | None, digits: int = 0) -> str:
        return f"{num(low, digits)}\u2009–\u2009{num(high, digits)}"

    return {"num": num, "interval": interval}


def _fix_name(what: str, names: dict[str, str]) -> str:
    """A fix in words: a commitment's text, or "carrier = Kiito"."""
    if "=" not in what:
        return names.get(what, what)
    dimension, key = what.split("=", 1)
    return f"{dimension.split(':', 1)[-1]} = {key}"


def html_file(found: reports.Report, ws: ActiveWorkspace, language: str) -> str:
    """The report as one HTML file with its styles and charts inside: it loads nothing."""
    css = "\n".join((HERE / "static" / name).read_text(encoding="utf-8") for name in STYLES)
    template = templates.get_template("report_file.html")
    return template.render(t=i18n.translator(language), lang=language, css=Markup(css),
                           **context(found, ws, language))


@router.get("/w/{slug}/report")
async def report_page(request: Request, member: Analyst) -> Response:
    kk = kokemus(request)
    ws = member.workspace
    language = sessions.language(request)
    found = await run_in_threadpool(lambda: reports.build(kk, ws, language=language))
    return render(request, "report.html", **context(found, ws, language))
