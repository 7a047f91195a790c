"""The report as HTML: the web page (/w/{ws}/report) and the one self-contained, printable
file `kokemus report --format html` writes; both from the same template (report_body.html)
over the same view (web/report_view.py: the sections of services/report.py written in one
language), charts inline as SVG (kokemus.web.charts)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kokemus.api.auth import kokemus
from kokemus.services import report as reports
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import i18n, report_view, sessions
from kokemus.web.page import HERE, Analyst, render, templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
# The page links these; the file inlines them, so it loads nothing.
STYLES = ("vendor/pico.min.css", "kokemus.css", "scores.css", "report.css")


def html_file(found: reports.Report, ws: ActiveWorkspace, language: str) -> str:
    """The report as one HTML file with its styles and charts inside: it loads nothing."""
    css = "\n".join((HERE / "static" / name).read_text(encoding="utf-8") for name in STYLES)
    template = templates.get_template("report_file.html")
    return template.render(t=i18n.translator(language), lang=language, css=Markup(css),
                           view=report_view.build(found, ws, language))


@router.get("/w/{slug}/report")
async def report_page(request: Request, member: Analyst) -> Response:
    kk = kokemus(request)
    ws = member.workspace
    language = sessions.language(request)

    def made() -> report_view.ReportView:
        return report_view.build(reports.build(kk, ws, language=language), ws, language)

    view = await run_in_threadpool(made)
    return render(request, "report.html", view=view)
