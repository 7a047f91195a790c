"""Web UI routes: login, language switch and the workspace overview, server-rendered."""

from __future__ import annotations

import logging
import threading
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import Receive, Scope, Send

from kokemus import bootstrap
from kokemus.analytics import breakdowns
from kokemus.api.auth import kokemus
from kokemus.config import Settings
from kokemus.domain.journeys import Journey
from kokemus.services import access, audit
from kokemus.web import forms, i18n, journey_map, overview, scores, sessions, variants
from kokemus.web.limits import FailureLimit, client_address
from kokemus.web.page import (
    HERE,
    Forbidden,
    Member,
    PageNotFound,
    Reader,
    render,
)

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
log = logging.getLogger("kokemus.signin")


class _Sessions(SessionMiddleware):
    """The session cookie where it is used: the API (keys, not cookies) and the hosted
    survey form (a signed link) never read it, and parsing the cookie header on each of
    their requests was a tenth of a single event's time on the event loop."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(("/api/v1/", "/s/")):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def install(app: FastAPI, settings: Settings) -> None:
    app.add_middleware(
        _Sessions,
        secret_key=bootstrap.secret_key(settings),
        session_cookie=sessions.SESSION_COOKIE,
        # the cookie may outlive the session; the server decides when the session ends
        max_age=int(settings.session_max_age),
        same_site="lax",
        https_only=settings.cookies_secure,
    )
    app.state.signin_limits = SignInLimits(settings)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_exception_handler(sessions.LoginRequired, _to_login)  # type: ignore[arg-type]
    app.add_exception_handler(PageNotFound, _not_found)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.include_router(router)
    from kokemus.web import (
        actions,
        audit_log,
        brand,
        cases,
        drivers,
        gaps,
        home,
        members,
        privacy,
        promises,
        report,
        rules,
        scores,
        signals,
        survey_builder,
        surveys,
        test_link,
        timeline,
        value,
    )

    for module in (home, brand, scores, promises, gaps, drivers, signals, report, surveys, rules,
                   members, privacy, audit_log, timeline, value, cases, actions):
        app.include_router(module.router)
    # the builder and the test link: kept out of the list above, which other pages extend
    for module in (survey_builder, test_link):
        app.include_router(module.router)
    forms.install(app, settings)


class SignInLimits:
    """Failed sign-ins, counted in this process: per user name from one address (so that
    nobody can lock a colleague out from elsewhere), per user name from anywhere (at ten
    times that: a guess spread over many addresses), and per client address.

    A try is counted as a failure before its password is checked and taken back when it
    succeeds: counted afterwards, a burst of tries sent at once would all pass the check
    while the first ones were still hashing."""

    SPREAD = 10  # the name's limit from anywhere, in multiples of its limit from one address

    def __init__(self, settings: Settings) -> None:
        per, window = settings.signin_failures_per_account, settings.signin_window
        self.here = FailureLimit(per, window)
        self.anywhere = FailureLimit(per * self.SPREAD, window)
        self.addresses = FailureLimit(settings.signin_failures_per_address, window)
        self.proxies = settings.proxy_networks
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str) -> list[tuple[FailureLimit, str]]:
        account = name.casefold()
        return [(self.here, f"{account}\0{address}"), (self.anywhere, account),
                (self.addresses, address)]

    def charge(self, name: str, address: str) -> float:
        """Count this try in advance; the seconds to wait instead when a limit is reached."""
        keys = self._keys(name, address)
        with self._lock:
            wait = max(limit.wait(key) for limit, key in keys)
            if wait <= 0:
                for limit, key in keys:
                    limit.fail(key)
            return wait

    def succeeded(self, name: str, address: str) -> None:
        here, anywhere, addresses = self._keys(name, address)
        with self._lock:
            here[0].clear(here[1])
            anywhere[0].refund(anywhere[1])
            addresses[0].refund(addresses[1])

    def refund(self, name: str, address: str) -> None:
        """A try that was not judged (the server was too busy to check it)."""
        with self._lock:
            for limit, key in self._keys(name, address):
                limit.refund(key)


async def _to_login(_: Request, exc: sessions.LoginRequired) -> Response:
    target = "/login" if exc.next_path == "/" else f"/login?next={quote(exc.next_path, safe='/')}"
    return RedirectResponse(target, status_code=303)


async def _not_found(request: Request, exc: PageNotFound) -> Response:
    return render(request, "not_found.html", 404, slug=exc.slug, workspaces=exc.workspaces)


async def _forbidden(request: Request, exc: Forbidden) -> Response:
    return render(request, "forbidden.html", 403, role=exc.member.role,
                  permission=exc.permission.value)


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    if sessions.viewer(request):
        return RedirectResponse(sessions.safe_next(next), status_code=303)
    notice = request.session.pop("notice", None)
    return render(request, "login.html", next=sessions.safe_next(next), notice=notice)


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    target = sessions.safe_next(next)
    name = username.strip()
    if not sessions.csrf_ok(request, csrf):
        return render(request, "login.html", 400, next=target, username=name,
                      error="login.expired")
    limits: SignInLimits = request.app.state.signin_limits
    address = client_address(request, limits.proxies)
    wait = limits.charge(name, address)
    kk = kokemus(request)
    if wait > 0:
        log.warning("sign-in refused (too many failures): user=%r address=%s", name, address)
        minutes = max(1, round(wait / 60))
        response = render(request, "login.html", 429, next=target, username=name,
                          error="login.too_many", minutes=minutes)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    try:
        # argon2 takes a core for ~50 ms: off the event loop, so other requests go on
        account = await run_in_threadpool(access.authenticate, kk.db, name, password)
    except access.Busy:
        limits.refund(name, address)
        response = render(request, "login.html", 503, next=target, username=name,
                          error="login.busy")
        response.headers["Retry-After"] = "5"
        return response
    if account is None:
        log.warning("sign-in failed: user=%r address=%s", name, address)
        await run_in_threadpool(_record, kk, f"anonymous@{address}", "signin.fail", name)
        return render(request, "login.html", 401, next=target, username=name,
                      error="login.failed")
    limits.succeeded(name, address)
    sessions.log_in(request, int(str(account["id"])), address)
    await run_in_threadpool(_record, kk, f"user:{name}", "signin", name)
    return RedirectResponse(target, status_code=303)


def _record(kk: bootstrap.Kokemus, actor: str, action: str, target: str) -> None:
    with kk.db.begin() as conn:
        audit.record(conn, actor, action, target=target[:200])


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    if sessions.csrf_ok(request, csrf):
        sessions.log_out(request)
        request.session["notice"] = "login.signed_out"
    return RedirectResponse("/login", status_code=303)


@router.get("/language/{code}")
def switch_language(code: str, next: str | None = None) -> Response:
    response = RedirectResponse(sessions.safe_next(next), status_code=303)
    if i18n.supported(code):
        response.set_cookie(sessions.LANGUAGE_COOKIE, code, max_age=365 * 24 * 3600,
                            httponly=True, samesite="lax")
    return response


@router.get("/w/{slug}")
def workspace_overview(request: Request, member: Reader) -> Response:
    view = overview.build(kokemus(request), member.workspace, sessions.language(request))
    return render(request, "overview.html", overview=view)


def _journey(member: Member, journey_id: str) -> Journey:
    """The workspace's journey, or the not-found page."""
    journey = next((j for j in member.workspace.document.journeys if j.id == journey_id),
                   None)
    if journey is None:
        raise PageNotFound(f"{member.workspace.slug}/{journey_id}", member.workspaces)
    return journey


@router.get("/w/{slug}/journeys/{journey_id}")
def journey_map_page(
    request: Request,
    journey_id: str,
    member: Reader,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    channel: str | None = None,
    colour: str | None = None,
    segment: str | None = None,
    outcome: str | None = None,
    by: Annotated[str | None, Query(max_length=200)] = None,
    where: Annotated[list[str] | None, Query(max_length=breakdowns.MAX_FILTERS)] = None,
    cases: Annotated[str | None, Query(max_length=20)] = None,
    account: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    kk = kokemus(request)
    active, journey = member.workspace, _journey(member, journey_id)
    known = scores.known(kk, active)
    accounts = [i for i, _ in journey_map.account_names(kk, active.id)]
    filters = journey_map.parse_filters(journey, active.document, start, end, channel, colour,
                                        segment, outcome, by, where, known, cases, account,
                                        accounts)
    view = journey_map.build(kk, active, journey, filters, sessions.language(request), known)
    # a filter the page could not use is a bad request, named on the page it asked for
    status = 422 if filters.errors or filters.problems else 200
    return render(request, "journey_map.html", status, map=view)


@router.get("/w/{slug}/journeys/{journey_id}/variants")
def variants_page(
    request: Request,
    journey_id: str,
    member: Reader,
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
    active, journey = member.workspace, _journey(member, journey_id)
    filters = journey_map.parse_filters(journey, active.document, start, end, channel, colour,
                                        segment, outcome)
    explore = variants.parse_explore(through, repeats, page,
                                     [tp.id for tp in journey.touchpoints])
    view = variants.build(kk, active, journey, filters, explore, sessions.language(request))
    return render(request, "variants.html", 422 if view.errors else 200, v=view)
