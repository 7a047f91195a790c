"""The workspace's logo and colour on its hosted form: validated in the document, served from
the server's own origin behind the form's signed link, and the page's policy unchanged."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.domain.brand import MAX_LOGO_BYTES, Brand
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.workspace import document
from tests.conftest import STARTER
from tests.web.test_survey_form import invite, path, people  # noqa: F401

SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40">'
       b'<rect width="120" height="40" fill="#b4005a"/></svg>')
DATA_URI = "data:image/svg+xml;base64," + base64.b64encode(SVG).decode()
POLICY = ("default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
          "form-action 'self'")


def branded(kk: bootstrap.Kokemus, **brand: Any) -> ActiveWorkspace:
    doc = document.load(STARTER)
    doc = doc.model_copy(update={"brand": Brand(**brand)})
    workspace_service.apply(kk.db, doc, source="test")
    return workspace_service.get(kk.db, "my-company")


@pytest.mark.parametrize(("given", "problem"), [
    ({"colour": "red"}, "a colour is hex"),
    ({"colour": "#12345"}, "a colour is hex"),
    ({"logo": "../secrets/logo.png"}, "without '..'"),
    ({"logo": "/etc/logo.png"}, "without '..'"),
    ({"logo": "brand/logo.exe"}, "a logo file is one of"),
    ({"logo": "data:text/html;base64,PGI+"}, "a logo's data URI is"),
    ({"logo": "data:image/png;base64,@@@@"}, "a logo's data URI is"),
    ({"logo": "data:image/png;base64,"
      + base64.b64encode(b"x" * (MAX_LOGO_BYTES + 1)).decode()}, "at most"),
])
def test_a_bad_brand_is_refused_with_its_reason(given: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(problem)):
        Brand(**given)


def test_a_brand_in_the_workspace_file_is_checked_with_its_line(tmp_path: Path) -> None:
    text = STARTER.read_text(encoding="utf-8") + "brand:\n  colour: teal\n"
    broken = tmp_path / "workspace.yaml"
    broken.write_text(text, encoding="utf-8")
    with pytest.raises(document.WorkspaceFileError) as found:
        document.load(broken)
    message = str(found.value)
    assert "brand.colour" in message and "a colour is hex" in message
    assert f":{len(text.splitlines())}" in message  # the line of the bad colour


def test_colours_are_normalised_and_the_ink_contrasts() -> None:
    assert Brand(colour="#ABC").colour == "#aabbcc"
    assert Brand(colour="#0f5c73").ink == "#ffffff"  # dark teal: white text
    assert Brand(colour="#ffd400").ink == "#111111"  # yellow: dark text


def test_the_form_shows_the_logo_and_the_colour_under_the_same_policy(
    client: TestClient, kk: bootstrap.Kokemus, people: None  # noqa: F811
) -> None:
    ws = branded(kk, logo=DATA_URI, colour="#b4005a")
    link = path(invite(kk, ws, "aino"))
    page = client.get(link)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == POLICY
    assert f'<img src="{DATA_URI}" alt="Yritykseni">' in page.text
    assert f'<link rel="stylesheet" href="{link}/brand.css">' in page.text
    css = client.get(f"{link}/brand.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--kk-accent: #b4005a;" in css.text and "--kk-accent-ink: #ffffff;" in css.text
    # a forged link gets nothing, not even the colour
    forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
    assert client.get(f"{forged}/brand.css").status_code == 404


def test_a_logo_file_comes_from_the_data_folder_only(
    client: TestClient, kk: bootstrap.Kokemus, settings: Settings, tmp_path: Path,
    people: None  # noqa: F811
) -> None:
    folder = settings.data_dir / "brand"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logo.svg").write_bytes(SVG)
    ws = branded(kk, logo="brand/logo.svg")
    link = path(invite(kk, ws, "aino"))
    page = client.get(link).text
    assert f'<img src="{link}/logo" alt="Yritykseni">' in page
    assert "brand.css" not in page  # no colour, no stylesheet
    logo = client.get(f"{link}/logo")
    assert logo.status_code == 200 and logo.content == SVG
    assert logo.headers["content-type"] == "image/svg+xml"
    assert logo.headers["content-security-policy"].startswith("default-src 'none'")
    # a link in the data folder that leads out of it is not followed
    outside = tmp_path / "secret.svg"
    outside.write_bytes(SVG)
    (folder / "logo.svg").unlink()
    (folder / "logo.svg").symlink_to(outside)
    assert client.get(f"{link}/logo").status_code == 404
