"""Who is logged in, which language they read, and the per-session form token.

The session lives in a signed cookie (Starlette's SessionMiddleware); it is SameSite=Lax,
so other sites cannot post with it, and every form also carries a token from the session.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.requests import Request

from kokemus.web import i18n

LANGUAGE_COOKIE = "kokemus_lang"
SESSION_COOKIE = "kokemus_session"
SESSION_AGE = 14 * 24 * 3600


class LoginRequired(Exception):
    """Raised by a page for an anonymous visitor; answered with a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def user(request: Request) -> dict[str, Any] | None:
    found = request.session.get("user")
    return found if isinstance(found, dict) else None


def require_user(request: Request) -> dict[str, Any]:
    found = user(request)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path)
    return found


def log_in(request: Request, account: dict[str, Any]) -> None:
    # A fresh session at login: nothing from the anonymous one carries over.
    request.session.clear()
    request.session["user"] = {"id": account["id"], "username": account["username"],
                               "language": account["language"]}
    csrf_token(request)


def language(request: Request) -> str:
    """The chosen language (cookie), else the user's own, else Finnish."""
    chosen = i18n.supported(request.cookies.get(LANGUAGE_COOKIE))
    if chosen:
        return chosen
    account = user(request)
    return i18n.supported(str(account["language"]) if account else None) or i18n.DEFAULT


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, sent: str | None) -> bool:
    token = request.session.get("csrf")
    return isinstance(token, str) and sent is not None and hmac.compare_digest(token, sent)


def safe_next(path: str | None, default: str = "/") -> str:
    """Only a path on this site: never an absolute or scheme-relative URL (open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return default
    return path
