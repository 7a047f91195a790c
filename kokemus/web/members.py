"""A workspace's people and API keys, for its owners: grant, change and take away roles,
choose the departments whose cases an agent works, create and revoke keys. A new password
or key secret is shown once, on the page that made it, and never put in the session cookie
(which is signed, not encrypted)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kokemus.api.auth import kokemus
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.roles import Role
from kokemus.domain.texts import localized
from kokemus.services import access, cases
from kokemus.web import i18n, sessions
from kokemus.web.page import Member, Owner, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)
NOTICE = "members_notice"


def _page(request: Request, member: Member, status: int = 200, **context: Any) -> Response:
    db = kokemus(request).db
    slug = member.workspace.slug
    people = access.list_users(db, slug)
    departments = cases.departments_by_user(db, member.workspace.id)
    language = sessions.language(request)
    return render(request, "members.html", status, slug=slug,
                  people=[{**p, "role": p["roles"][slug],
                           "departments": departments.get(p["username"], [])}
                          for p in people],
                  departments=[(d.id, localized(d.name, language))
                               for d in member.workspace.document.departments],
                  keys=access.list_keys(db, slug), roles=list(Role),
                  scopes=sorted(access.SCOPES), me=member.viewer.username,
                  notice=request.session.pop(NOTICE, None), **context)


def _back(request: Request, slug: str, key: str, **params: str) -> Response:
    request.session[NOTICE] = {"key": key, "params": params}
    return RedirectResponse(f"/w/{slug}/members", status_code=303)


def _refused(request: Request, member: Member, csrf: str,
             username: str | None = None) -> Response | None:
    """The page with the reason a form is refused: an expired form, or an owner acting on
    their own role (which would lock them out); None when it may go on."""
    lang = sessions.language(request)
    if not sessions.csrf_ok(request, csrf):
        return _page(request, member, 400, error=i18n.translate("login.expired", lang))
    if username is not None and username == member.viewer.username:
        return _page(request, member, 422, error=i18n.translate("members.not_yourself", lang))
    return None


@router.get("/w/{slug}/members")
def members_page(request: Request, member: Owner) -> Response:
    return _page(request, member)


@router.post("/w/{slug}/members")
def add_member(request: Request, member: Owner, username: Annotated[str, Form()] = "",
               role: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    """Give a person a role here; a name nobody has yet becomes a new user, whose generated
    password this page shows once."""
    name, db, slug = username.strip(), kokemus(request).db, member.workspace.slug
    if refused := _refused(request, member, csrf, name):
        return refused
    if role not in {r.value for r in Role}:
        return _page(request, member, 422,
                     error=i18n.translate("members.bad_role", sessions.language(request)))
    password = None
    try:
        try:
            access.grant(db, name, slug, role, actor=member.actor)
        except NotFound:  # nobody has the name yet: a new user, in the owner's language
            password = access.create_user(db, name, language=sessions.language(request),
                                          actor=member.actor)
            access.grant(db, name, slug, role, actor=member.actor)
    except Invalid as exc:
        return _page(request, member, 422, error=str(exc))
    if password is None:
        return _back(request, slug, "members.granted", username=name, role=role)
    return _page(request, member, new_user=name, password=password)


@router.post("/w/{slug}/members/{username}/revoke")
def revoke_member(request: Request, username: str, member: Owner,
                  csrf: Annotated[str, Form()] = "") -> Response:
    if refused := _refused(request, member, csrf, username):
        return refused
    try:
        access.revoke(kokemus(request).db, username, member.workspace.slug, actor=member.actor)
    except NotFound as exc:
        return _page(request, member, 404, error=str(exc))
    return _back(request, member.workspace.slug, "members.revoked", username=username)


@router.post("/w/{slug}/members/{username}/departments")
def set_departments(request: Request, username: str, member: Owner,
                    department: Annotated[list[str] | None, Form()] = None,
                    csrf: Annotated[str, Form()] = "") -> Response:
    """The departments whose cases an agent works (services/cases.py): their inbox."""
    if refused := _refused(request, member, csrf):
        return refused
    try:
        chosen = cases.set_departments(kokemus(request).db, member.workspace, username,
                                       department or [], actor=member.actor)
    except NotFound as exc:
        return _page(request, member, 404, error=str(exc))
    except Invalid as exc:
        return _page(request, member, 422, error=str(exc))
    return _back(request, member.workspace.slug, "members.departments_saved",
                 username=username, departments=", ".join(chosen) or "–")


@router.post("/w/{slug}/keys")
def create_key(request: Request, member: Owner, name: Annotated[str, Form()] = "",
               scope: Annotated[list[str] | None, Form()] = None,
               csrf: Annotated[str, Form()] = "") -> Response:
    if refused := _refused(request, member, csrf):
        return refused
    try:
        secret = access.create_key(kokemus(request).db, member.workspace.slug, name.strip(),
                                   set(scope or []), actor=member.actor)
    except Invalid as exc:
        return _page(request, member, 422, error=str(exc))
    return _page(request, member, new_key=secret)


@router.post("/w/{slug}/keys/{prefix}/revoke")
def revoke_key(request: Request, prefix: str, member: Owner,
               csrf: Annotated[str, Form()] = "") -> Response:
    if refused := _refused(request, member, csrf):
        return refused
    try:
        # only a key of this workspace: an owner here cannot revoke another workspace's key
        access.revoke_key(kokemus(request).db, prefix, workspace=member.workspace.slug,
                          actor=member.actor)
    except NotFound as exc:
        return _page(request, member, 404, error=str(exc))
    return _back(request, member.workspace.slug, "members.key_revoked", prefix=prefix)
