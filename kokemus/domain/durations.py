"""Durations written the way people write them in a workspace: "48h", "2 h", "30min", "3d"."""

from __future__ import annotations

import re

from kokemus.domain.calendar import LONGEST_SECONDS

_UNITS = {"s": 1, "min": 60, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$")


def parse_duration(text: str) -> float:
    """Seconds in `text`; ValueError naming the accepted forms otherwise."""
    match = _PATTERN.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a duration; write e.g. 30min, 2h, 48h, 3d or 1w")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > LONGEST_SECONDS:  # '9999...9d' would overflow every clock that adds it
        raise ValueError(f"'{text}' is longer than 100 years")
    return seconds
