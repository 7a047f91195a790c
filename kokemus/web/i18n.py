"""UI strings in Finnish and English: one YAML catalog per language, looked up by key."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from kokemus.domain.workspace import Workspace

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


def zone(document: Workspace) -> ZoneInfo:
    """The workspace's time zone: its pages show every date and time in it."""
    return ZoneInfo(document.business_hours.timezone)


def day(value: date, language: str) -> str:
    """A day the way the language writes it: fi "2.3.2026", en "2 Mar 2026" (the charts'
    axes write theirs the same way, with Vega's locale)."""
    month = translate("format.months", language).split()[value.month - 1]
    return translate("format.date", language, d=value.day, month=month, y=value.year)


def clock(value: datetime, language: str, *, seconds: bool = False) -> str:
    """A time of day on the 24-hour clock: fi "09.05", en "09:05"."""
    shown = translate("format.time", language, hh=f"{value.hour:02d}", mm=f"{value.minute:02d}")
    return shown + translate("format.seconds", language, ss=f"{value.second:02d}") \
        if seconds else shown


def moment(value: datetime, language: str, zone: tzinfo | None = None, *,
           seconds: bool = False) -> str:
    """A moment in `zone` (the workspace's time zone; UTC when there is none, and a naive
    value is taken as UTC): fi "2.3.2026 klo 09.05", en "2 Mar 2026, 09:05"."""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(zone or UTC)
    return translate("format.datetime", language, date=day(local.date(), language),
                     time=clock(local, language, seconds=seconds))


def duration(text: str, language: str) -> str:
    """A workspace duration ("48h", "30min") written for reading: "48 h", "3 vrk"."""
    match = _DURATION.match(text)
    if not match:
        return text
    unit = "min" if match.group(2) == "m" else match.group(2)
    return f"{match.group(1)}\u00a0{translate(f'unit.{unit}', language)}"
