"""Web UI routes: login, language switch and the workspace overview, server-rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from kokemus import bootstrap
from kokemus.api.auth import kokemus
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.domain.errors import NotFound
from kokemus.domain.journeys import Journey
from kokemus.services import access
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.web import forms, i18n, journey_map, overview, sessions, variants

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

User = Annotated[dict[str, Any], Depends(sessions.require_user)]

# The pages run no scripts and load nothing from elsewhere; the policy says so to the browser.
# img-src allows data: for the icons inlined in the vendored CSS.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        SessionMiddleware,
        secret_key=bootstrap.secret_key(settings),
        session_cookie=sessions.SESSION_COOKIE,
        max_age=sessions.SESSION_AGE,
        same_site="lax",
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(sessions.LoginRequired, _to_login)  # type: ignore[arg-type]
    app.include_router(router)
    # Imported here: the scores page uses this module's render and login (a cycle at the top).
    from kokemus.web import scores as score_pages

    app.include_router(score_pages.router)
    # Imported here: the survey pages use this module's render and login (a cycle at the top).
    from kokemus.web import surveys

    app.include_router(surveys.router)
    forms.install(app, settings)


async def _to_login(_: Request, exc: sessions.LoginRequired) -> Response:
    target = "/login" if exc.next_path == "/" else f"/login?next={quote(exc.next_path, safe='/')}"
    return RedirectResponse(target, status_code=303)


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = sessions.language(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = templates.TemplateResponse(
        request,
        name,
        {
            "t": i18n.translator(lang),
            "lang": lang,
            "languages": i18n.LANGUAGES,
            "user": sessions.user(request),
            "csrf": sessions.csrf_token(request),
            "here": here,
            "workspaces": [],
            **context,
        },
        status_code=status,
    )
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if sessions.user(request):
        return RedirectResponse(sessions.safe_next(next), status_code=303)
    notice = request.session.pop("notice", None)
    return render(request, "login.html", next=sessions.safe_next(next), notice=notice)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = sessions.safe_next(next)
    if not sessions.csrf_ok(request, csrf):
        return render(request, "login.html", 400, next=target, username=username,
                      error="login.expired")
    account = access.authenticate(kokemus(request).db, username.strip(), password)
    if account is None:
        return render(request, "login.html", 401, next=target, username=username,
                      error="login.failed")
    sessions.log_in(request, account)
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if sessions.csrf_ok(request, csrf):
        request.session.clear()
        request.session["notice"] = "login.signed_out"
    return RedirectResponse("/login", status_code=303)


@router.get("/language/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    response = RedirectResponse(sessions.safe_next(next), status_code=303)
    if i18n.supported(code):
        response.set_cookie(sessions.LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600,
                            httponly=True, samesite="lax")
    return response


@router.get("/")
def home(request: Request, _user: User) -> Response:
    slugs = workspace_service.slugs(kokemus(request).db)
    if not slugs:
        return render(request, "empty.html")
    return RedirectResponse(f"/w/{slugs[0]}", status_code=303)


def _workspace(kk: Kokemus, slug: str) -> tuple[list[str], ActiveWorkspace | None]:
    """All workspace ids (for the selector) and the one asked for, if it exists."""
    slugs = workspace_service.slugs(kk.db)
    try:
        return slugs, workspace_service.get(kk.db, slug)
    except NotFound:
        return slugs, None


@router.get("/w/{slug}")
def workspace_overview(request: Request, slug: str, _user: User) -> Response:
    kk = kokemus(request)
    slugs, active = _workspace(kk, slug)
    if active is None:
        return render(request, "not_found.html", 404, slug=slug, workspaces=slugs)
    view = overview.build(kk, active, sessions.language(request))
    return render(request, "overview.html", overview=view, workspaces=slugs, current=slug)


def _journey(request: Request, kk: Kokemus, slug: str,
             journey_id: str) -> tuple[list[str], ActiveWorkspace, Journey] | Response:
    """The workspace and its journey, or the not-found page."""
    slugs, active = _workspace(kk, slug)
    if active is None:
        return render(request, "not_found.html", 404, slug=slug, workspaces=slugs)
    journey = next((j for j in active.document.journeys if j.id == journey_id), None)
    if journey is None:
        return render(request, "not_found.html", 404, slug=f"{slug}/{journey_id}",
                      workspaces=slugs, current=slug)
    return slugs, active, journey


@router.get("/w/{slug}/journeys/{journey_id}")
def journey_map_page(
    request: Request,
    slug: str,
    journey_id: str,
    _user: User,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    channel: str | None = None,
    colour: str | None = None,
    segment: str | None = None,
    outcome: str | None = None,
) -> Response:
    kk = kokemus(request)
    found = _journey(request, kk, slug, journey_id)
    if isinstance(found, Response):
        return found
    slugs, active, journey = found
    filters = journey_map.parse_filters(journey, active.document, start, end, channel, colour,
                                        segment, outcome)
    view = journey_map.build(kk, active, journey, filters, sessions.language(request))
    return render(request, "journey_map.html", map=view, workspaces=slugs, current=slug)


@router.get("/w/{slug}/journeys/{journey_id}/variants")
def variants_page(
    request: Request,
    slug: str,
    journey_id: str,
    _user: User,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    channel: str | None = None,
    colour: str | None = None,
    segment: str | None = None,
    outcome: str | None = None,
    through: str | None = None,
    repeats: str | None = None,
    page: str | None = None,  # text: a bad page is named on the page, not answered with 422
) -> Response:
    """The variant explorer: every distinct path, with the map's filters and its own."""
    kk = kokemus(request)
    found = _journey(request, kk, slug, journey_id)
    if isinstance(found, Response):
        return found
    slugs, active, journey = found
    filters = journey_map.parse_filters(journey, active.document, start, end, channel, colour,
                                        segment, outcome)
    explore = variants.parse_explore(through, repeats, page,
                                     [tp.id for tp in journey.touchpoints])
    view = variants.build(kk, active, journey, filters, explore, sessions.language(request))
    return render(request, "variants.html", v=view, workspaces=slugs, current=slug)
