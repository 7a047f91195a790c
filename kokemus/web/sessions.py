"""Who is signed in, which language they read, and the per-session form token.

The cookie (Starlette's SessionMiddleware: signed, HttpOnly, SameSite=Lax, Secure when the
server is reached over HTTPS) carries only a random session token, the form token and
one-off notices. Who the token belongs to is kept on the server (services/sessions.py), so
signing out or disabling a user ends the session at once. Other sites cannot post with the
cookie, and every form also carries the form token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import cast

from starlette.requests import Request

from kokemus.services import sessions as session_service
from kokemus.services.sessions import Viewer
from kokemus.web import i18n

LANGUAGE_COOKIE = "kokemus_lang"
SESSION_COOKIE = "kokemus_session"
_UNSET = object()


class LoginRequired(Exception):
    """Raised by a page for an anonymous visitor; answered with a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def viewer(request: Request) -> Viewer | None:
    """The signed-in person of this request (looked up once per request), or None."""
    cached = getattr(request.state, "viewer", _UNSET)
    if cached is not _UNSET:
        return cast(Viewer | None, cached)
    token = request.session.get("sid")
    found = None
    if isinstance(token, str):
        kk = request.app.state.kokemus
        settings = kk.settings
        found = session_service.current(kk.db, token, idle=settings.session_idle_timeout,
                                        absolute=settings.session_max_age)
        if found is None:
            request.session.pop("sid", None)
    request.state.viewer = found
    return found


def require_viewer(request: Request) -> Viewer:
    found = viewer(request)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return found


def log_in(request: Request, user_id: int, address: str | None) -> None:
    # A fresh session at sign-in: nothing from the anonymous one carries over (no fixation).
    request.session.clear()
    request.session["sid"] = session_service.start(request.app.state.kokemus.db, user_id,
                                                   address)
    if hasattr(request.state, "viewer"):
        del request.state.viewer
    csrf_token(request)


def log_out(request: Request) -> None:
    token = request.session.get("sid")
    if isinstance(token, str):
        session_service.end(request.app.state.kokemus.db, token)
    request.session.clear()
    request.state.viewer = None


def language(request: Request) -> str:
    """The chosen language (cookie), else the user's own, else Finnish."""
    chosen = i18n.supported(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    person = viewer(request)
    return i18n.supported(person.language if person else None) or i18n.DEFAULT


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    token = request.session.get("csrf")
    # bytes: compare_digest refuses a str that is not ASCII (a 500 for any "ä" sent)
    return (isinstance(token, str) and sent is not None
            and hmac.compare_digest(token.encode(), sent.encode()))


def safe_next(path: str | None, default: str = "/") -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path
