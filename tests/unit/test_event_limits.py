"""The bounds on an event's properties: a NUL character is refused, a person's literal
backslash-u-0000 text is not (it was, when the check read orjson's output as bytes)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kokemus.domain.events import Event

BASE = {"id": "e1", "type": "order_placed", "customer": "c1", "channel": "web",
        "occurred_at": "2026-05-01T12:00:00+03:00"}


@pytest.mark.parametrize("properties", [{"note": "a\x00b"}, {"k\x00": 1},
                                        {"deep": [{"x": "\\\x00"}]}])
def test_a_nul_anywhere_is_refused(properties: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="NUL character"):
        Event.model_validate({**BASE, "properties": properties})


def test_the_text_backslash_u0000_is_kept() -> None:
    event = Event.model_validate({**BASE, "properties": {"path": "C:\\u0000\\x"}})
    assert event.properties == {"path": "C:\\u0000\\x"}
