"""docs/rules.md's YAML is what the workspace model accepts: every example rule and trigger
validates, so a reader who copies one gets a working rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from kokemus.domain.rules import OnAnswer, OnEvent, OnPromise, OnSchedule, OnScore, Rule

DOC = Path(__file__).parents[2] / "docs" / "rules.md"
ACTION = {"do": "stop_sequence", "sequence": "s"}


def blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_every_example_rule_and_trigger_validates() -> None:
    rules: list[Rule] = []
    triggers: list[Any] = []
    for block in blocks():
        data = yaml.safe_load(block)
        if isinstance(data, dict) and "rules" in data:
            rules += [Rule.model_validate(r) for r in data["rules"]]
        elif isinstance(data, list):
            rules += [Rule.model_validate(r) for r in data]
        else:
            lines = [line for line in block.splitlines() if line.startswith("when:")]
            # one `when:` mapping over several lines, or `when:` lines, a trigger each
            whens = [data["when"]] if len(lines) == 1 else [
                yaml.safe_load(line)["when"] for line in lines]
            triggers += [Rule.model_validate({"id": "r", "name": "r", "when": when,
                                              "actions": [ACTION]}).when for when in whens]
    kinds = {type(t) for t in [*triggers, *(r.when for r in rules)]}
    assert kinds == {OnEvent, OnAnswer, OnPromise, OnScore, OnSchedule}
    assert {a.do for r in rules for a in r.actions} >= {"notify", "webhook", "case"}
    assert [r.id for r in rules] == [
        "damaged-delivery", "detractor-callback", "detractor-call-back",
        "installation-at-risk", "delivery-nps-low", "monday-summary", "worn-washer-service"]
    assert len(triggers) >= 12
