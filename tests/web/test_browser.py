"""The web UI in a real headless Chromium against a real server on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from kokemus import bootstrap
from kokemus.api.app import create_app
from kokemus.config import Settings
from kokemus.services import access
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOT = Path(os.environ.get("KOKEMUS_SCREENSHOT", "/tmp/kokemus-overview.png"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(settings: Settings, kk: bootstrap.Kokemus) -> Iterator[str]:
    """uvicorn serving the app in a thread; its base URL once it accepts connections."""
    port = free_port()
    config = uvicorn.Config(create_app(settings, kk), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        # CI installs it (.ci/services): there a missing browser is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"no {CHROMIUM}; .ci/services should have installed it")
        pytest.skip(f"no {CHROMIUM}; install it with: apt-get install chromium")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


def test_login_overview_and_language_switch(
    server: str, page: Page, kk: bootstrap.Kokemus, workspace: ActiveWorkspace
) -> None:
    access.create_user(kk.db, "anna", "salasana123")
    access.grant(kk.db, "anna", workspace.slug, "agent")
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ingest_events([
        {"id": f"e{i}", "type": "order_placed" if i % 2 == 0 else "delivered",
         "customer": f"c{i // 2}", "channel": "web",
         "occurred_at": (start + timedelta(hours=i)).isoformat()}
        for i in range(6)
    ], workspace, kk.events)

    page.goto(f"{server}/w/my-company")
    expect(page).to_have_url(f"{server}/login?next=/w/my-company")
    expect(page.get_by_role("heading", name="Kirjaudu sisään")).to_be_visible()

    page.get_by_label("Käyttäjätunnus").fill("anna")
    page.get_by_label("Salasana").fill("väärin-meni")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page.get_by_role("alert")).to_contain_text("Väärä käyttäjätunnus tai salasana")

    page.get_by_label("Salasana").fill("salasana123")
    page.get_by_role("button", name="Kirjaudu").click()
    expect(page).to_have_url(f"{server}/w/my-company")
    expect(page.get_by_role("heading", name="Asiakaslupaukset")).to_be_visible()
    expect(page.get_by_role("heading", name="Toimitus kahdessa päivässä")).to_be_visible()
    expect(page.locator("#tp-order .tp-name")).to_have_text("Tilaus")
    expect(page.locator("#tp-delivery .tp-name")).to_have_text("Toimitus")
    expect(page.locator("#tp-delivery")).to_contain_text("Logistiikka")
    expect(page.locator("#stat-events .stat-value")).to_have_text("6")
    expect(page.locator("table.events tbody tr")).to_have_count(6)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("link", name="EN", exact=True).click()
    expect(page).to_have_url(f"{server}/w/my-company")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Customer promises")).to_be_visible()
    expect(page.get_by_role("heading", name="Delivered within two days")).to_be_visible()
    expect(page.locator("#tp-order .tp-name")).to_have_text("Order")
    expect(page.locator("#tp-delivery")).to_contain_text("Reliability")
    expect(page.get_by_role("heading", name="Asiakaslupaukset")).to_have_count(0)

    page.get_by_role("link", name="FI").click()
    expect(page.get_by_role("heading", name="Asiakaslupaukset")).to_be_visible()

    page.get_by_role("button", name="Kirjaudu ulos").click()
    expect(page).to_have_url(f"{server}/login")
    expect(page.get_by_role("status")).to_contain_text("Olet kirjautunut ulos")
