"""The five warning signals page: each signal with its severity, what the data says, the
evidence rows and where to look (services/signals.py computes them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from kokemus.api.auth import kokemus
from kokemus.domain.texts import localized
from kokemus.services import signals
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import i18n, sessions
from kokemus.web.page import Analyst, render
from kokemus.web.promises import hours

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


@dataclass(frozen=True)
class SignalView:
    id: str
    fired: bool
    severity: str
    sentence: str
    evidence: list[list[str]]  # rows of cells, the first row the headings
    link: str


def _names(ws: ActiveWorkspace, language: str) -> dict[str, str]:
    doc = ws.document
    names = {d.id: localized(d.name, language) for d in doc.departments}
    names.update({t.id: localized(t.name, language) for t in doc.touchpoints()})
    names.update({f"channel:{c.id}": localized(c.name, language) for c in doc.channels})
    names.update({c.id: localized(c.text, language) for _, c in doc.commitments()})
    return names


def view(s: signals.Signal, ws: ActiveWorkspace, language: str) -> SignalView:
    """One signal in `language`: its sentence and evidence rows (the page and the report)."""
    t = i18n.translator(language)
    names = _names(ws, language)
    n = i18n.number
    summary: dict[str, Any] = dict(s.summary)
    rows: list[list[str]] = []
    if s.id == "complaints_rising":
        rows = [[t("signals.what"), t("signals.recent"), t("signals.before"), t("signals.ratio")]]
        rows += [[t(f"signals.{r['what']}"), n(r["recent"], language), n(r["before"], language),
                  "" if r["ratio"] is None else f"{r['ratio']:.2f}"] for r in s.evidence]
    elif s.id == "handoff_stalls":
        summary["share"] = f"{100 * summary.get('share', 0):.0f}"
        rows = [[t("signals.handoff"), t("signals.broken"), t("signals.median_wait")]]
        rows += [[f"{names.get(r['from'], r['from'])} → {names.get(r['to'], r['to'])}",
                  n(r["broken"], language), hours(r["median_wait_s"], language)]
                 for r in s.evidence]
    elif s.id == "channel_inconsistency":
        summary["touchpoints"] = ", ".join(names.get(x, x) for x in summary["touchpoints"])
        rows = [[t("signals.touchpoint"), t("signals.channel"), t("signals.cases"),
                 t("signals.conversion"), t("signals.next_step")]]
        rows += [[names.get(r["touchpoint"], r["touchpoint"]),
                  names.get(f"channel:{r['channel']}", r["channel"]), n(r["cases"], language),
                  "" if r["conversion"] is None else f"{100 * r['conversion']:.0f} %",
                  hours(r["median_next_s"], language)] for r in s.evidence]
    elif s.id == "no_social_listening":
        summary["channels"] = ", ".join(names.get(f"channel:{c}", c)
                                        for c in summary["channels"])
        rows = [[t("signals.channel"), t("signals.events")]]
        rows += [[names.get(f"channel:{r['channel']}", r["channel"]),
                  n(r["events"], language)] for r in s.evidence]
    elif s.id == "kpis_unlinked":
        summary["unlinked"] = ", ".join(names.get(x, x) for x in summary["unlinked"])
        rows = [[t("signals.commitment"), t("signals.nps_kept"), t("signals.nps_broken"),
                 t("signals.difference")]]
        rows += [[names.get(r["commitment"], r["commitment"]), f"{r['nps_kept']:.0f}",
                  f"{r['nps_broken']:.0f}",
                  f"{r['difference']:+.0f}" + (" *" if r["significant"] else "")]
                 for r in s.evidence]
    state = "fired" if s.fired else s.severity if s.severity == "unknown" else "quiet"
    sentence = t(f"signals.{s.id}.{state}", **summary)
    return SignalView(s.id, s.fired, s.severity, sentence,
                      rows if len(rows) > 1 else [], s.link)


@router.get("/w/{slug}/signals")
async def signals_page(request: Request, member: Analyst) -> Response:
    kk = kokemus(request)
    ws = member.workspace
    language = sessions.language(request)
    found = await run_in_threadpool(signals.signals, kk, ws)
    return render(request, "signals.html", slug=ws.slug,
                  workspace=localized(ws.document.name, language),
                  signals=[view(s, ws, language) for s in found],
                  fired=sum(s.fired for s in found))
