"""Workspace YAML: validation with file/line/field, round trip, JSON Schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from kokemus.workspace import document
from kokemus.workspace.document import WorkspaceFileError, digest

STARTER = Path(document.__file__).parent / "starter.yaml"
TEXT = STARTER.read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(next(ln for ln in text.splitlines() if needle in ln)) + 1


def test_starter_loads_with_its_promise_and_journey() -> None:
    ws = document.loads(TEXT)
    assert ws.workspace == "my-company"
    assert ws.promises[0].commitments[0].seconds == 48 * 3600
    assert ws.journeys[0].designed_path == ["order", "delivery"]
    assert ws.touchpoint_for_event() == {"order_placed": "order", "delivered": "delivery"}


def test_export_round_trip_is_identical() -> None:
    ws = document.loads(TEXT)
    again = document.loads(document.dump(ws))
    assert again == ws
    assert digest(again) == digest(ws)
    assert document.dump(ws).startswith("kokemus: 1\n")


def test_typo_in_field_names_file_line_and_suggestion() -> None:
    bad = TEXT.replace("owner: logistics", "ownr: logistics")
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad, "shop.yaml")
    message = str(caught.value)
    line = line_of(bad, "ownr: logistics")
    assert f"shop.yaml:{line}: journeys[0].touchpoints[1].ownr: unknown field 'ownr'" in message
    assert "did you mean 'owner'?" in message


def test_unknown_reference_names_the_line_and_the_known_values() -> None:
    bad = TEXT.replace("channel: web\n        owner: logistics",
                       "channel: fax\n        owner: logistics")
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad, "shop.yaml")
    line = line_of(bad, "channel: fax")
    assert (f"shop.yaml:{line}: journeys[0].touchpoints[1].channel: unknown channel 'fax' "
            "(known: email, phone, web)") in str(caught.value)


def test_bad_duration_and_bad_enum_are_reported_together() -> None:
    bad = TEXT.replace("within: 48h", "within: two days").replace(
        "category: reliability", "category: vibes")
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad, "w.yaml")
    paths = [p.path for p in caught.value.problems]
    assert "promises[0].commitments[0].within" in paths
    assert "journeys[0].touchpoints[1].category" in paths
    assert "'two days' is not a duration" in str(caught.value)


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads("workspace: a\nname: [unclosed\nlanguages: [fi]\n", "x.yaml")
    assert str(caught.value).startswith("x.yaml:")
    assert "not valid YAML" in str(caught.value)


def test_duplicate_ids_and_event_mapped_twice() -> None:
    bad = TEXT.replace("events: [delivered]", "events: [order_placed]")
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad, "w.yaml")
    assert "event type 'order_placed' already maps to touchpoint 'order'" in str(caught.value)


def test_claimed_element_of_value_must_be_on_the_list() -> None:
    bad = TEXT.replace("elements_of_value: [saves_time,", "elements_of_value: [saves_money,")
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad, "w.yaml")
    assert "unknown B2C element of value 'saves_money'" in str(caught.value)


def test_not_a_mapping() -> None:
    with pytest.raises(WorkspaceFileError, match="a workspace file is a YAML mapping"):
        document.loads("- just\n- a list\n")


def test_json_schema_describes_the_document() -> None:
    schema = document.json_schema()
    assert schema["title"] == "kokemus workspace"
    assert {"workspace", "name", "value_proposition"} <= set(schema["required"])
    assert "Touchpoint" in schema["$defs"]
    assert schema["$defs"]["Touchpoint"]["additionalProperties"] is False


def test_every_commitment_kind_survives_export_and_load() -> None:
    """`kind` is what tells the kinds apart: export (which leaves defaults out) must keep it."""
    ws = document.load(Path("kokemus/demo/appliance_shop.yaml"))
    again = document.loads(document.dump(ws))
    kinds = [(c.id, c.kind, type(c).__name__) for _, c in again.commitments()]
    assert kinds == [(c.id, c.kind, type(c).__name__) for _, c in ws.commitments()]
    assert {k for _, k, _ in kinds} == {"within", "respond", "never", "first_contact", "score"}


def test_commitment_mistakes_are_named_with_their_line() -> None:
    text = Path("kokemus/demo/appliance_shop.yaml").read_text()
    with pytest.raises(document.WorkspaceFileError) as caught:
        document.loads(text.replace("kind: first_contact", "kind: first_call"), "shop.yaml")
    assert "kind must be one of: within, respond, never, score, first_contact" in str(
        caught.value)
    line = text.splitlines().index("        kind: first_contact") + 1
    assert any(item.line is not None and abs(item.line - line) <= 1
               for item in caught.value.located)
    nowhere = text.replace("        touchpoint: delivery\n        score: nps",
                           "        touchpoint: nowhere\n        score: nps")
    with pytest.raises(document.WorkspaceFileError) as caught:
        document.loads(nowhere, "shop.yaml")
    assert "unknown touchpoint 'nowhere'" in str(caught.value)


RULE = """
rules:
  - id: tell-them
    name: {fi: Kerro, en: Tell}
    when: {on: event, event: delivered}
    actions:
      - do: email
        subject: {fi: "Tilauksesi {{ cause.properties.order }}", en: "Your order"}
        body: {fi: "Hei {{ customer.name }", en: "{% macro f() %}{% endmacro %}"}
"""


def test_a_rule_template_the_worker_would_refuse_is_named_at_save() -> None:
    bad = TEXT + RULE
    with pytest.raises(WorkspaceFileError) as caught:
        document.loads(bad, "w.yaml")
    message = str(caught.value)
    fi_line, en_line = line_of(bad, "Hei {{ customer.name }"), line_of(bad, "{% macro")
    assert (f"w.yaml:{fi_line}: rules[0].actions[0].body.fi: template (line 1): unexpected "
            "'}'") in message
    assert (f"w.yaml:{en_line}: rules[0].actions[0].body.en: template: macros are not "
            "allowed in a rule template") in message
    assert "subject" not in message
    fixed = bad.replace("{{ customer.name }\"", "{{ customer.name }}\"").replace(
        "{% macro f() %}{% endmacro %}", "Hello {{ customer.name }}")
    assert document.loads(fixed).rules[0].id == "tell-them"
