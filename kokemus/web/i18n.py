"""UI strings in Finnish and English: one YAML catalog per language, looked up by key."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

LANGUAGES: tuple[str, ...] = ("fi", "en")
DEFAULT = "fi"
LOCALES = Path(__file__).parent / "locales"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$")

Translate = Callable[..., str]


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalog(language: str) -> dict[str, str]:
    """The catalog of `language`, nested YAML flattened to dotted keys."""
    with (LOCALES / f"{language}.yaml").open(encoding="utf-8") as file:
        return _flatten(yaml.safe_load(file) or {})


def supported(language: str | None) -> str | None:
    return language if language in LANGUAGES else None


def translate(key: str, language: str, **params: object) -> str:
    """The string for `key`, with {name} placeholders filled in.

    A missing key shows as the key itself rather than failing the page; the catalog tests
    are what keep keys from going missing.
    """
    text = catalog(supported(language) or DEFAULT).get(key)
    if text is None:
        return key
    return text.format(**params) if params else text


def translator(language: str) -> Translate:
    """`t(key, **params)` bound to one language, for templates."""

    def t(key: str, **params: object) -> str:
        return translate(key, language, **params)

    return t


def number(value: float, language: str, digits: int = 0, *, signed: bool = False) -> str:
    """A number the way the language writes it, rounded to `digits` decimals: fi
    "−1 234,5" (a narrow no-break space between thousands, a decimal comma), en "−1,234.5";
    a true minus sign (−) in both, never on a zero, and with `signed` a plus sign on a
    positive number ("+12", for a difference). The charts write theirs with Vega's
    locale (charts.NUMBERS)."""
    shown = (f"{abs(value):,}" if isinstance(value, int) and digits == 0
             else f"{abs(value):,.{digits}f}")
    if language == "fi":
        shown = shown.replace(",", "\u202f").replace(".", ",")
    if set(shown) <= set("0,.\u202f"):  # rounds to zero: no sign
        return shown
    return ("\u2212" if value < 0 else "+" if signed else "") + shown


def moment(value: datetime, language: str) -> str:
    return value.strftime(translate("format.datetime", language))


def duration(text: str, language: str) -> str:
    """A workspace duration ("48h", "30min") written for reading: "48 h", "3 vrk"."""
    match = _DURATION.match(text)
    if not match:
        return text
    unit = "min" if match.group(2) == "m" else match.group(2)
    return f"{match.group(1)}\u00a0{translate(f'unit.{unit}', language)}"
