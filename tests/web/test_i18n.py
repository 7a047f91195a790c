"""The two catalogs say the same things, and every key the UI asks for exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kokemus.domain.journeys import Category
from kokemus.web import i18n

WEB = Path(i18n.__file__).parent
# A literal key: t('a.b') or t('a.b', name=...); keys built with ~ are checked separately.
TEMPLATE_KEY = re.compile(r"""\bt\(\s*(['"])([^'"]+)\1\s*[,)]""")
# Keys the Python side passes to templates or translate(): dotted strings whose first part
# is a catalog section (file names such as "login.html" are not keys).
PYTHON_KEY = re.compile(r"""["']([a-z_]+\.[a-z_]+)["']""")


def template_keys() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((WEB / "templates").rglob("*.html")):
        for match in TEMPLATE_KEY.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(2), set()).add(path.name)
    return found


def test_catalogs_have_the_same_keys() -> None:
    fi, en = set(i18n.catalog("fi")), set(i18n.catalog("en"))
    assert fi - en == set(), "keys only in fi.yaml"
    assert en - fi == set(), "keys only in en.yaml"
    assert len(fi) > 50


def test_no_empty_strings_and_same_placeholders() -> None:
    fi, en = i18n.catalog("fi"), i18n.catalog("en")
    for key in fi:
        assert fi[key].strip() and en[key].strip(), key
        names = re.compile(r"\{(\w+)\}")
        assert set(names.findall(fi[key])) == set(names.findall(en[key])), key


def test_every_template_key_exists() -> None:
    used = template_keys()
    assert "login.title" in used and "promise.title" in used  # the scan finds keys at all
    catalog = i18n.catalog("fi")
    missing = {key: sorted(files) for key, files in used.items() if key not in catalog}
    assert missing == {}


def test_every_key_named_in_python_exists() -> None:
    catalog = i18n.catalog("fi")
    sections = {key.split(".")[0] for key in catalog}
    named = {
        match.group(1)
        for path in WEB.glob("*.py")
        for match in PYTHON_KEY.finditer(path.read_text(encoding="utf-8"))
        # file names (templates, style sheets) are not keys
        if match.group(1).split(".")[0] in sections
        and not match.group(1).endswith((".html", ".css"))
    }
    assert "login.failed" in named
    assert sorted(k for k in named if k not in catalog) == []


def test_computed_keys_exist() -> None:
    """Keys built at run time: categories, duration units, language names."""
    catalog = i18n.catalog("en")
    computed = [f"category.{c.value}" for c in Category]
    computed += [f"unit.{u}" for u in ("s", "min", "h", "d", "w")]
    computed += [f"language.{code}" for code in i18n.LANGUAGES]
    computed += ["format.datetime"]
    assert [k for k in computed if k not in catalog] == []


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert i18n.translate("commitment.within", "fi", duration="48 h") == "48 h kuluessa"
    assert i18n.translate("commitment.within", "en", duration="48 h") == "within 48 h"
    assert i18n.translate("login.title", "de") == "Kirjaudu sisään"  # unknown: Finnish
    assert i18n.translate("no.such_key", "en") == "no.such_key"


@pytest.mark.parametrize(
    ("text", "language", "shown"),
    [("48h", "fi", "48\u00a0h"), ("3d", "fi", "3\u00a0vrk"), ("3d", "en", "3\u00a0d"),
     ("30m", "en", "30\u00a0min"), ("2 h", "en", "2\u00a0h"), ("soon", "en", "soon")],
)
def test_duration(text: str, language: str, shown: str) -> None:
    assert i18n.duration(text, language) == shown


def test_number_grouping() -> None:
    assert i18n.number(1234567, "fi") == "1\u202f234\u202f567"
    assert i18n.number(1234567, "en") == "1,234,567"
