"""Texts shown to customers and staff, in one language or several."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

Language = Literal["fi", "en", "sv"]
LANGUAGES: tuple[Language, ...] = ("fi", "en", "sv")

# A plain string, or one string per language: {fi: "Tilaus", en: "Order"}.
Text = str | dict[Language, Annotated[str, Field(min_length=1)]]

Slug = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        max_length=64,
        description="Lower-case identifier: letters, digits, '-' and '_'.",
    ),
]


def localized(text: Text, language: str, fallback: str = "en") -> str:
    """The text in `language`, else the fallback language, else any language there is."""
    if isinstance(text, str):
        return text
    for lang in (language, fallback):
        if lang in text:
            return text[lang]
    return next(iter(text.values()), "")
