"""What every page shares: rendering, and who may see it.

Every workspace page asks for one permission through a typed dependency (`Reader`,
`Caseworker`, `Analyst`, `Editor`, `Owner`). A workspace the signed-in person has no role in
does not exist for them: the page is the same 404 as for a workspace that does not exist at
all, so its name is not confirmed either. A workspace they may see but not act in gets 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from kokemus.domain import calendar
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.roles import Permission, Role
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.sessions import Viewer
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import i18n, sessions

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# The pages run no scripts and load nothing from elsewhere; the policy says so to the browser.
# img-src allows data: for the icons inlined in the vendored CSS.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # pages hold personal data, and some a password or key shown once: kept by no cache
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Member:
    """A signed-in person in one workspace, with what they may do there."""

    viewer: Viewer
    workspace: ActiveWorkspace
    role: Role | None  # None: an instance administrator, who holds every permission
    workspaces: list[str]  # every workspace they may see, for the selector

    @property
    def permissions(self) -> frozenset[Permission]:
        return frozenset(Permission) if self.role is None else self.role.permissions

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in self.permissions

    @property
    def zone(self) -> ZoneInfo:
        """The workspace's time zone, which every date and time on its pages is shown in."""
        return i18n.zone(self.workspace.document)

    @property
    def actor(self) -> str:
        return f"user:{self.viewer.username}"


class PageNotFound(Exception):
    def __init__(self, slug: str, workspaces: list[str] | None = None) -> None:
        super().__init__(slug)
        self.slug = slug
        self.workspaces = workspaces or []


class Forbidden(Exception):
    def __init__(self, member: Member, permission: Permission) -> None:
        super().__init__(permission)
        self.member = member
        self.permission = permission


def filter_day(text: str | None, error: str, errors: list[str]) -> date | None:
    """A page's day filter (YYYY-MM-DD); a value that is not a day of the calendar is
    named by its message key in `errors` and not used."""
    if not text or not text.strip():
        return None
    try:
        return calendar.day(text)
    except ValueError:
        errors.append(error)
        return None


def workspace_roles(request: Request, viewer: Viewer) -> dict[str, Role | None]:
    """The viewer's workspaces and role in each (read once per request)."""
    cached: dict[str, Role | None] | None = getattr(request.state, "roles", None)
    if cached is None:
        cached = access.workspace_roles(request.app.state.kokemus.db, viewer.id,
                                        admin=viewer.is_admin)
        request.state.roles = cached
    return cached


def member(permission: Permission) -> Callable[..., Member]:
    """A dependency: the signed-in person in the path's workspace, holding `permission`."""

    def dependency(request: Request, slug: str) -> Member:
        viewer = sessions.require_viewer(request)
        roles = workspace_roles(request, viewer)
        visible = list(roles)
        if slug not in roles:
            raise PageNotFound(slug, visible)
        try:
            active = workspace_service.get(request.app.state.kokemus.db, slug)
        except NotFound:
            raise PageNotFound(slug, visible) from None
        found = Member(viewer, active, roles[slug], visible)
        request.state.member = found
        if not found.can(permission):
            raise Forbidden(found, permission)
        return found

    return dependency


SignedIn = Annotated[Viewer, Depends(sessions.require_viewer)]
Reader = Annotated[Member, Depends(member(Permission.VIEW))]
Caseworker = Annotated[Member, Depends(member(Permission.WORK))]
Analyst = Annotated[Member, Depends(member(Permission.ANALYSE))]
Editor = Annotated[Member, Depends(member(Permission.EDIT))]
Owner = Annotated[Member, Depends(member(Permission.MANAGE))]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = sessions.language(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    found: Member | None = getattr(request.state, "member", None)
    viewer = sessions.viewer(request)
    zone = found.zone if found else None

    def when(value: datetime, seconds: bool = False) -> str:
        return i18n.moment(value, lang, zone, seconds=seconds)

    def on_day(value: date | datetime) -> str:
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(
                zone or UTC).date()
        return i18n.day(value, lang)

    defaults: dict[str, Any] = {
        "t": i18n.translator(lang),
        "lang": lang,
        "languages": i18n.LANGUAGES,
        "user": viewer,
        "csrf": sessions.csrf_token(request),
        "here": here,
        "workspaces": found.workspaces if found else [],
        "current": found.workspace.slug if found else None,
        "can": found.permissions if found else frozenset(),
        "is_admin": bool(viewer and viewer.is_admin),
        # dates and times: in the workspace's time zone (UTC outside a workspace)
        "when": when,
        "day": on_day,
        "zone": zone.key if zone else "UTC",
        # an event type by the workspace's name for it, or by the type
        "event": (lambda etype: found.workspace.document.event_name(etype, lang)) if found
        else (lambda etype: etype),
    }
    response = templates.TemplateResponse(request, name, {**defaults, **context},
                                          status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def located(exc: Invalid) -> list[dict[str, Any]]:
    """An editor's problems as its template lists them: line (counted in the edited text),
    field path and message."""
    found = getattr(exc, "located", None)
    if found is not None:
        return [{"line": item.line, "path": item.problem.path if item.problem.loc else "",
                 "message": item.problem.message} for item in found]
    return [{"line": None, "path": p.path, "message": p.message} for p in exc.problems] or [
        {"line": None, "path": "", "message": str(exc)}]


def form_version(raw: str) -> int | None:
    """The workspace version an editor form was opened on (None when missing or bad)."""
    return int(raw) if raw.isdigit() else None
