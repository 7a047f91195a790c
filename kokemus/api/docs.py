"""The API reference page (/api/docs): Swagger UI from the vendored copy under /static
(kokemus/web/assets/vendor.sh pins it), never from a CDN.

The page gets a Content-Security-Policy of its own: everything from this server only, and
of inline script just the one that starts Swagger UI, allowed by its hash."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

DOCS_URL = "/api/docs"
VENDOR = "/static/vendor"


def install(app: FastAPI) -> None:
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url or "/api/openapi.json",
        title=f"{app.title}: API",
        swagger_js_url=f"{VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
        # no validator badge: it is an image from validator.swagger.io
        swagger_ui_parameters={"validatorUrl": None},
    )
    body = bytes(page.body)
    headers = {"Content-Security-Policy": policy(body.decode()),
               "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
               "X-Frame-Options": "DENY"}

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(body, headers=headers)


def policy(html: str) -> str:
    """Only this server, and only the inline scripts of `html` (by their hashes)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, re.DOTALL))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self'; "
            "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
