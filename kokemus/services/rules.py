"""Editing a workspace's rules one at a time: the same model as the workspace YAML.

Like services/surveys.py: a rule is edited as its own list item of the document that
`export` writes, put back into the whole document and validated by the loader `kokemus
apply` uses (so a rule's references to surveys, departments and segments are checked), with
error lines counted from the rule's own text. A valid save is a new workspace version;
`preview` builds the same workspace without applying it, for engine.rules.replay.
"""

from __future__ import annotations

import yaml
from sqlalchemy import Engine

from kokemus.domain.errors import Problem
from kokemus.domain.rules import Rule
from kokemus.domain.workspace import Workspace
from kokemus.services import document_items, workspaces
from kokemus.services.surveys import StaleEdit, SurveyTextError, current
from kokemus.services.workspaces import Applied
from kokemus.workspace import document
from kokemus.workspace.document import Located, WorkspaceFileError

__all__ = ["RuleTextError", "StaleEdit", "add_rule", "replace_rule", "rule_text", "with_rule"]

RuleTextError = SurveyTextError  # the same shape: problems located in the edited text


def rule_text(workspace: Workspace, rule_id: str) -> str:
    """The rule's part of the workspace document, as `export` writes it, unindented."""
    at = position(workspace, rule_id)
    return document_items.item_text(document_items.split(workspace, "rules").items[at])


def position(workspace: Workspace, rule_id: str) -> int:
    return document_items.position(workspace, "rules", rule_id)


def with_rule(workspace: Workspace, text: str, at: int | None) -> Workspace:
    """The workspace with the rule at `at` replaced by `text` (None: appended); not applied.

    RuleTextError names each problem with its line in `text` and its field; the id must be
    one no other rule has."""
    _check_text(text)
    whole, at, first, last = document_items.put_back(
        document_items.split(workspace, "rules"), "rules", text, at)
    try:
        updated = document.loads(whole, "<rule>")
    except WorkspaceFileError as exc:
        raise RuleTextError([document_items.relative(item, "rules", at, first, last)
                             for item in exc.located]) from None
    rule = updated.rules[at]
    if any(other.id == rule.id and i != at for i, other in enumerate(updated.rules)):
        raise RuleTextError([Located(Problem(("id",), f"a rule '{rule.id}' exists already; "
                                             "choose another id"), 1)])
    return updated


def _check_text(text: str) -> None:
    """No YAML, too deep, or no id: said before the whole document is built."""
    try:
        deep = document.too_deep(text)
        if deep is not None:  # before PyYAML's recursive loader would fail on it
            raise RuleTextError([Located(Problem(
                (), f"nested deeper than {document.MAX_DEPTH} levels"), deep)])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleTextError([Located(Problem((), f"not YAML: {getattr(exc, 'problem', exc)}"),
                                     mark.line + 1 if mark is not None else None)]) from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise RuleTextError([Located(Problem(("id",), "the rule needs an id"), None)])


def edited(db_workspace: workspaces.ActiveWorkspace, text: str,
           rule_id: str | None) -> tuple[Workspace, Rule]:
    """The workspace with the edit and the edited rule, validated and not applied."""
    at = None if rule_id is None else position(db_workspace.document, rule_id)
    updated = with_rule(db_workspace.document, text, at)
    return updated, updated.rules[-1 if at is None else at]


def replace_rule(db: Engine, slug: str, rule_id: str, text: str, user: str, *,
                 base_version: int | None = None) -> tuple[Applied, Rule]:
    """Replace one rule with `text`: a new workspace version by `user`, if all is valid."""
    updated, rule = edited(current(db, slug, base_version), text, rule_id)
    return workspaces.apply(db, updated, source=f"web:{user}", applied_by=user), rule


def add_rule(db: Engine, slug: str, text: str, user: str, *,
             base_version: int | None = None) -> tuple[Applied, Rule]:
    """Add a rule at the end of the workspace's list; its id must be new."""
    updated, rule = edited(current(db, slug, base_version), text, None)
    return workspaces.apply(db, updated, source=f"web:{user}", applied_by=user), rule
