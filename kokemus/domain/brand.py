"""A workspace's brand on the forms its customers answer: a logo and an accent colour.

The logo is either a small image inline (a base64 data URI, bounded so that a form stays
light) or a file in the data folder, named by its path inside it; the colour is a hex colour.
Both reach the page without weakening its Content-Security-Policy: the inline logo as an
<img> (the policy allows data: images), the file and the colour from the server's own
origin (web/brand.py).
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import PurePosixPath

from pydantic import Field, field_validator

from kokemus.domain.promises import Model

# A logo inline in the page: an image a form can carry on a phone connection.
MAX_LOGO_BYTES = 64 * 1024
LOGO_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "jpg": "image/jpeg",
              "webp": "image/webp", "svg": "image/svg+xml", "gif": "image/gif"}
_DATA_URI = re.compile(r"data:(image/(?:png|jpeg|webp|svg\+xml|gif));base64,([A-Za-z0-9+/=\s]+)")
_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


class Brand(Model):
    """How the workspace's forms look: its logo and colour (both optional)."""

    logo: str | None = Field(default=None, max_length=90_000, description=(
        "A data URI of an image (data:image/png;base64,...; png, jpeg, webp, svg or gif, "
        "at most 64 KiB decoded) or the path of an image file inside the data folder "
        "(brand/logo.svg)."))
    colour: str | None = Field(default=None, description=(
        "The accent colour of the forms' buttons and chosen answers, as hex (#0f5c73)."))

    @field_validator("colour")
    @classmethod
    def _colour(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _HEX.fullmatch(value):
            raise ValueError(f"a colour is hex, #rgb or #rrggbb (e.g. #0f5c73); got '{value}'")
        if len(value) == 4:
            value = "#" + "".join(c * 2 for c in value[1:])
        return value.lower()

    @field_validator("logo")
    @classmethod
    def _logo(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.startswith("data:"):
            found = _DATA_URI.fullmatch(value)
            if not found:
                raise ValueError("a logo's data URI is data:image/<png|jpeg|webp|svg+xml|gif>;"
                                 "base64,<data>")
            try:
                decoded = base64.b64decode("".join(found.group(2).split()), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("a logo's data URI does not hold valid base64") from None
            if len(decoded) > MAX_LOGO_BYTES:
                raise ValueError(f"a logo inline is at most {MAX_LOGO_BYTES // 1024} KiB; this "
                                 f"one is {len(decoded) // 1024} KiB (put it in the data folder "
                                 "and name its path instead)")
            return value
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value or not path.parts:
            raise ValueError("a logo's path is relative to the data folder, without '..' "
                             f"(e.g. brand/logo.svg); got '{value}'")
        if path.suffix.lower().lstrip(".") not in LOGO_TYPES:
            raise ValueError(f"a logo file is one of {', '.join(sorted(LOGO_TYPES))}; "
                             f"got '{value}'")
        return value

    @property
    def inline(self) -> bool:
        return self.logo is not None and self.logo.startswith("data:")

    @property
    def ink(self) -> str:
        """The text colour on the accent: white or near-black, whichever contrasts more
        (WCAG relative luminance)."""
        if self.colour is None:
            return "#ffffff"
        channels = [int(self.colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
                  for c in channels]
        luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
        on_white = 1.05 / (luminance + 0.05)
        on_black = (luminance + 0.05) / 0.05
        return "#ffffff" if on_white >= on_black else "#111111"
