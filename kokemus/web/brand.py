"""The workspace's brand on its hosted survey form: the accent colour as a stylesheet and a
logo file from the data folder, both behind the form's own signed link.

The pages' policy allows styles and images from the server's origin only (and data:
images), and no inline style: so the colour comes as a small stylesheet of custom
properties, and a logo file is read here, from inside the data folder, never from a path
that leaves it. A logo given inline (a data URI) needs neither and is put in the page.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from kokemus.api.auth import kokemus
from kokemus.domain.brand import LOGO_TYPES, Brand
from kokemus.domain.errors import NotFound
from kokemus.services import feedback
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace

router = APIRouter(include_in_schema=False)

# A logo file read for a form: larger files are refused rather than sent to phones.
MAX_FILE_BYTES = 512 * 1024
# Cached briefly: the same link's stylesheet and logo on each page of the form.
_CACHED = {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"}


def stylesheet(brand: Brand) -> str:
    """The accent as the custom properties survey.css reads, and Pico's primary colour."""
    if brand.colour is None:
        return ""
    c, ink = brand.colour, brand.ink
    names = ("--kk-accent", "--pico-primary", "--pico-primary-background",
             "--pico-primary-border", "--pico-primary-hover",
             "--pico-primary-hover-background", "--pico-primary-hover-border")
    return (":root:not([data-theme=dark]), [data-theme=light] {\n"
            + "".join(f"  {name}: {c};\n" for name in names)
            + f"  --pico-primary-inverse: {ink};\n  --kk-accent-ink: {ink};\n}}\n")


def logo_source(brand: Brand | None, token: str) -> str | None:
    """What a form's <img> shows: the data URI itself, or this module's route for a file."""
    if brand is None or brand.logo is None:
        return None
    return brand.logo if brand.inline else f"/s/{token}/logo"


def colour_source(brand: Brand | None, token: str) -> str | None:
    return f"/s/{token}/brand.css" if brand is not None and brand.colour else None


def logo_file(data_dir: Path, brand: Brand) -> Path | None:
    """The logo's file inside the data folder; None when it is missing, too large, or (by a
    link) outside it."""
    if brand.logo is None or brand.inline:
        return None
    root = data_dir.resolve()
    found = (root / brand.logo).resolve()
    if not found.is_relative_to(root) or not found.is_file():
        return None
    if found.stat().st_size > MAX_FILE_BYTES:
        return None
    return found


def _workspace(request: Request, token: str) -> ActiveWorkspace | None:
    """The workspace of a genuine link (an expired one still shows its brand)."""
    kk = kokemus(request)
    try:
        invitation_id = feedback.verify(request.app.state.link_secret, token, datetime.now(UTC))
    except feedback.LinkError as exc:
        if exc.problem != "expired":
            return None
        invitation_id = token.split(".")[0]
    invitation = feedback.get_invitation(kk.db, invitation_id)
    if invitation is None:
        return None
    try:
        return workspace_service.get_by_id(kk.db, invitation["workspace_id"])
    except NotFound:
        return None


@router.get("/s/{token}/brand.css")
async def brand_css(request: Request, token: str) -> Response:
    ws = await run_in_threadpool(_workspace, request, token)
    brand = ws.document.brand if ws is not None else None
    return stylesheet_response(brand)


@router.get("/s/{token}/logo")
async def logo(request: Request, token: str) -> Response:
    ws = await run_in_threadpool(_workspace, request, token)
    brand = ws.document.brand if ws is not None else None
    return await run_in_threadpool(logo_response, kokemus(request).settings.data_dir, brand)


def stylesheet_response(brand: Brand | None) -> Response:
    """The brand's colours as a stylesheet (the hosted form's and the test link's), 404
    without a colour."""
    if brand is None or brand.colour is None:
        return Response(status_code=404)
    return Response(stylesheet(brand), media_type="text/css", headers=_CACHED)


def logo_response(data_dir: Path, brand: Brand | None) -> Response:
    """The brand's logo file (the hosted form's and the test link's), 404 without one."""
    found = logo_file(data_dir, brand) if brand is not None else None
    if found is None:
        return Response(status_code=404)
    kind = LOGO_TYPES[found.suffix.lower().lstrip(".")]
    headers = dict(_CACHED)
    if kind == "image/svg+xml":  # opened on its own, an SVG could run script: not here
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return Response(found.read_bytes(), media_type=kind, headers=headers)
