"""Personal data of one customer, for a workspace's owners: what is held and consented,
a copy to download (export) and erasure. Both go through services/privacy.py, the same
as the CLI and the API, and both are written to the audit log."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from kokemus.api.auth import kokemus
from kokemus.domain.errors import NotFound
from kokemus.services import consents, privacy
from kokemus.storage import people
from kokemus.web import i18n, sessions
from kokemus.web.page import Member, Owner, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
MAX_ID = 200


def _page(request: Request, member: Member, status: int = 200, customer: str = "",
          **context: Any) -> Response:
    found = None
    if customer:
        kk = kokemus(request)
        found = {"profile": people.get_customer(kk.db, member.workspace.id, customer),
                 "consents": consents.current(kk.db, member.workspace.id, customer)}
    return render(request, "privacy.html", status, slug=member.workspace.slug,
                  customer=customer, found=found, **context)


@router.get("/w/{slug}/privacy")
def privacy_page(request: Request, member: Owner, customer: str | None = None) -> Response:
    wanted = (customer or "").strip()[:MAX_ID]
    return _page(request, member, customer=wanted)


@router.get("/w/{slug}/privacy/export")
async def export(request: Request, member: Owner, customer: str = "") -> Response:
    """The customer's data as a JSON file to download (audited as an export)."""
    wanted = customer.strip()[:MAX_ID]
    if not wanted:
        return _page(request, member, 422,
                     error=i18n.translate("privacy.no_customer", sessions.language(request)))
    try:
        document = await run_in_threadpool(privacy.export_customer, kokemus(request),
                                           member.workspace, wanted, actor=member.actor)
    except NotFound as exc:
        return _page(request, member, 404, customer=wanted, error=str(exc))
    body = json.dumps(document, ensure_ascii=False, indent=1, default=str)
    name = quote(f"{member.workspace.slug}-{wanted}.json")
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
        "Cache-Control": "no-store"})


@router.post("/w/{slug}/privacy/erase")
async def erase(request: Request, member: Owner, customer: Annotated[str, Form()] = "",
                confirm: Annotated[str, Form()] = "",
                csrf: Annotated[str, Form()] = "") -> Response:
    """Erase the customer once the owner has typed their id again: there is no undo."""
    lang = sessions.language(request)
    wanted = customer.strip()[:MAX_ID]
    if not sessions.csrf_ok(request, csrf):
        return _page(request, member, 400, customer=wanted,
                     error=i18n.translate("login.expired", lang))
    if not wanted or confirm.strip() != wanted:
        return _page(request, member, 422, customer=wanted,
                     error=i18n.translate("privacy.confirm_mismatch", lang))
    try:
        done = await run_in_threadpool(privacy.erase_customer, kokemus(request),
                                       member.workspace, wanted, actor=member.actor)
    except NotFound as exc:
        return _page(request, member, 404, customer=wanted, error=str(exc))
    return _page(request, member, erased=done)
