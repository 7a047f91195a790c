"""The API reference page is served from the vendored Swagger UI: no other host."""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi.testclient import TestClient


def test_docs_page_names_no_other_host_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    html = page.text
    assert not re.search(r"(?:https?:)?//", html.replace("<!DOCTYPE html>", "")), html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui-bundle.js" in sources
    assert "/static/vendor/swagger-ui.css" in sources
    for source in sources:
        assert source.startswith("/"), source
        served = client.get(source)
        assert served.status_code == 200 and len(served.content) > 0, source
    assert "swagger-ui" in client.get("/static/vendor/swagger-ui-bundle.js").text[:5000].lower()
    policy = page.headers["Content-Security-Policy"]
    assert "unsafe" not in policy and "http" not in policy
    assert "default-src 'self'" in policy and "style-src 'self';" in policy
    [inline] = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in policy
    assert "validatorUrl" in inline  # no badge image from validator.swagger.io


def test_the_api_schema_is_still_published(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert "/api/v1/events" in spec["paths"] and "/api/docs" not in spec["paths"]
