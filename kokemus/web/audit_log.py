"""The audit log in the web UI: a workspace's entries for its owners, and the instance's
(users, sign-ins) for administrators. Newest first, a page at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, tzinfo
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from kokemus.api.auth import kokemus
from kokemus.services import audit
from kokemus.web import i18n, sessions
from kokemus.web.page import Owner, SignedIn, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
PAGE_SIZE = 100


@dataclass(frozen=True)
class EntryView:
    at: str
    iso: str
    actor: str
    action: str
    target: str | None
    detail: str


def _page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < len(raw) < 7 else 1


def _view(entry: dict[str, Any], lang: str, zone: tzinfo) -> EntryView:
    at = entry["at"].astimezone(UTC)
    key = f"audit.act.{entry['action']}"
    action = i18n.translate(key, lang)
    detail = entry["detail"]
    return EntryView(
        at=i18n.moment(at, lang, zone, seconds=True), iso=at.isoformat(), actor=entry["actor"],
        action=entry["action"] if action == key else action, target=entry["target"],
        detail=json.dumps(detail, ensure_ascii=False, default=str) if detail else "")


def _render(request: Request, scope: str, page: int, zone: tzinfo, **where: Any) -> Response:
    lang = sessions.language(request)
    rows, total = audit.entries(kokemus(request).db, limit=PAGE_SIZE,
                                offset=(page - 1) * PAGE_SIZE, **where)
    first = (page - 1) * PAGE_SIZE + 1 if rows else 0
    return render(
        request, "audit.html", scope=scope, entries=[_view(r, lang, zone) for r in rows],
        total=total, first=first, last=first + len(rows) - 1 if rows else 0,
        prev_link="?" + urlencode({"page": page - 1}) if page > 1 else None,
        next_link="?" + urlencode({"page": page + 1}) if page * PAGE_SIZE < total else None)


@router.get("/w/{slug}/audit")
def workspace_audit(request: Request, member: Owner, page: str | None = None) -> Response:
    return _render(request, "workspace", _page(page), member.zone,
                   workspace=member.workspace.slug)


@router.get("/audit")
def instance_audit(request: Request, viewer: SignedIn, page: str | None = None) -> Response:
    if not viewer.is_admin:
        return render(request, "not_found.html", 404, slug="audit")
    return _render(request, "instance", _page(page), UTC, instance=True)



