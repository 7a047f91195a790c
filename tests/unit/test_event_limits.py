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


@pytest.mark.parametrize("field, value", [
    ("type", "promise_breached"), ("type", "promise_at_risk"),
    ("id", "promise_breached:express-48h:express-installed-48h:e1"),
])
def test_the_promise_clocks_events_cannot_be_sent(field: str, value: str) -> None:
    """A client taking a mark's id first would stop the real mark (the store keeps the
    first event of an id); the marks' types are kokemus's own."""
    event = {"id": "e1", "type": "order_placed", "customer": "c1", "channel": "web",
             "occurred_at": "2026-03-02T09:00:00+02:00", field: value}
    with pytest.raises(ValidationError, match="written by kokemus itself"):
        Event.model_validate(event)
    Event.model_validate({**event, field: "promise_kept_note" if field == "type" else "x1"})
