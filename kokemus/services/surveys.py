"""Editing a workspace's surveys one at a time: the same model as the workspace YAML.

A survey is edited as its own part of the workspace document (the YAML `export` writes).
The edited text is put back into the whole document and validated by the same loader as
`kokemus apply`, so every check (field types, references to touchpoints and segments) is
the one a file gets; error lines are counted from the survey's own text. A valid edit is a
new workspace version, so `kokemus history` and `kokemus export` show it.
"""

from __future__ import annotations

import yaml
from pydantic import ValidationError
from sqlalchemy import Engine, func, select

from kokemus.domain.errors import Invalid, KokemusError, NotFound, Problem
from kokemus.domain.surveys import Survey
from kokemus.domain.workspace import Workspace
from kokemus.services import document_items, workspaces
from kokemus.services.workspaces import Applied
from kokemus.storage.tables import invitations
from kokemus.workspace import document
from kokemus.workspace.document import Located, WorkspaceFileError


class SurveyTextError(Invalid):
    """The edited survey text is not valid; `located` lines count from the survey's text."""

    def __init__(self, located: list[Located]) -> None:
        self.located = located
        super().__init__("\n".join(str(item) for item in located),
                         [item.problem for item in located])


class StaleEdit(KokemusError):
    """The workspace got a new version after the editor was opened; saving would undo it."""

    def __init__(self, base: int, current: int) -> None:
        self.base = base
        self.current = current
        super().__init__(f"the workspace changed from version {base} to {current} "
                         "after the survey was opened")


def survey_text(workspace: Workspace, survey_id: str) -> str:
    """The survey's part of the workspace document, as `export` writes it, unindented."""
    position = _position(workspace, survey_id)
    return document_items.item_text(document_items.split(workspace, "surveys").items[position])


def draft_text(workspace: Workspace, survey: Survey, survey_id: str | None) -> str:
    """The text the YAML editor would show for `survey` once it replaced `survey_id` (None:
    once added): the survey builder saves this text, so what it builds is the document a
    person would have written, through the same checks and versioning."""
    surveys = list(workspace.surveys)
    if survey_id is None:
        surveys.append(survey)
    else:
        surveys[_position(workspace, survey_id)] = survey
    placed = workspace.model_copy(update={"surveys": surveys})
    at = len(surveys) - 1 if survey_id is None else _position(workspace, survey_id)
    return document_items.item_text(document_items.split(placed, "surveys").items[at])


def _position(workspace: Workspace, survey_id: str) -> int:
    return document_items.position(workspace, "surveys", survey_id)


def with_survey(workspace: Workspace, text: str, position: int | None) -> Workspace:
    """The workspace with the survey at `position` replaced by `text` (None: appended).

    SurveyTextError names each problem with its line in `text`; a problem outside the
    survey (none is expected, the rest of the document is already valid) has no line.
    """
    whole, position, first, last = document_items.put_back(
        document_items.split(workspace, "surveys"), "surveys", text, position)
    try:
        return document.loads(whole, "<survey>")
    except WorkspaceFileError as exc:
        raise SurveyTextError([document_items.relative(item, "surveys", position, first, last)
                               for item in exc.located]) from None


def _id_in(text: str) -> str:
    """The id the survey text gives; SurveyTextError if it gives none (or is no YAML)."""
    try:
        deep = document.too_deep(text)
        data = yaml.safe_load(text) if deep is None else None
    except yaml.YAMLError:
        deep, data = None, None
    if deep is not None:  # before PyYAML's recursive loader would fail on it
        raise SurveyTextError([Located(Problem(
            (), f"nested deeper than {document.MAX_DEPTH} levels"), deep)])
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise SurveyTextError([Located(Problem(("id",), "the survey needs an id"), None)])
    return str(data["id"])


def _check_unique(workspace: Workspace, survey: Survey, position: int | None) -> None:
    for i, other in enumerate(workspace.surveys):
        if other.id == survey.id and i != position:
            raise SurveyTextError([Located(Problem(("id",), f"a survey '{survey.id}' exists "
                                                   "already; choose another id"), None)])


def current(db: Engine, slug: str, base_version: int | None) -> workspaces.ActiveWorkspace:
    """The workspace as it is now; StaleEdit if it moved on from `base_version`."""
    active = workspaces.get(db, slug)
    if base_version is not None and base_version != active.version:
        raise StaleEdit(base_version, active.version)
    return active


def _apply(db: Engine, workspace: Workspace, user: str) -> Applied:
    return workspaces.apply(db, workspace, source=f"web:{user}", applied_by=user)


def replace_survey(db: Engine, slug: str, survey_yaml: str, user: str, *,
                   survey_id: str | None = None, base_version: int | None = None) -> Applied:
    """Replace one survey (`survey_id`, else the id the text gives) with `survey_yaml`.

    Nothing is applied unless the whole workspace is valid with it; with `base_version`,
    nothing is applied either if someone else applied a version since (StaleEdit).
    """
    active = current(db, slug, base_version)
    if survey_id is None:
        survey_id = _id_in(survey_yaml)
    position = _position(active.document, survey_id)
    updated = with_survey(active.document, survey_yaml, position)
    _check_unique(updated, updated.surveys[position], position)
    return _apply(db, updated, user)


def add_survey(db: Engine, slug: str, survey_yaml: str, user: str, *,
               base_version: int | None = None) -> Applied:
    """Add a survey at the end of the workspace's list; its id must be new."""
    active = current(db, slug, base_version)
    updated = with_survey(active.document, survey_yaml, None)
    _check_unique(updated, updated.surveys[-1], len(updated.surveys) - 1)
    return _apply(db, updated, user)


def remove_survey(db: Engine, slug: str, survey_id: str, user: str, *,
                  base_version: int | None = None) -> Applied:
    """A new version without the survey; its invitations and responses stay stored."""
    active = current(db, slug, base_version)
    _position(active.document, survey_id)
    kept = [s for s in active.document.surveys if s.id != survey_id]
    return _apply(db, active.document.model_copy(update={"surveys": kept}), user)


def set_trigger(db: Engine, slug: str, survey_id: str, user: str, *,
                delay: str | None = None, sample: float | None = None,
                base_version: int | None = None) -> Applied:
    """The common edits as fields: the trigger's delay and sampling rate, written into the
    survey's YAML and applied like any other edit, so the same checks hold."""
    active = current(db, slug, base_version)
    survey = active.document.survey(survey_id)
    if survey is None:
        raise NotFound(f"no survey '{survey_id}' in workspace '{slug}'")
    if survey.trigger is None:
        raise Invalid("the survey has no trigger", [Problem(("trigger",), "no trigger to set")])
    data = survey.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    trigger = data.setdefault("trigger", {})
    if delay is not None:
        trigger["delay"] = delay.strip()
    if sample is not None:
        trigger["sample"] = sample
    try:
        changed = Survey.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise Invalid("; ".join(f"{p.path}: {p.message}" for p in problems), problems) from None
    surveys = [changed if s.id == survey_id else s for s in active.document.surveys]
    return _apply(db, active.document.model_copy(update={"surveys": surveys}), user)



def invitations_sent(db: Engine, workspace_id: int) -> dict[str, int]:
    """Per survey, the invitations that went out (an answered one was sent first)."""
    with db.connect() as conn:
        rows = conn.execute(
            select(invitations.c.survey, func.count())
            .where(invitations.c.workspace_id == workspace_id,
                   invitations.c.sent_at.is_not(None))
            .group_by(invitations.c.survey)).all()
    return {survey: int(n) for survey, n in rows}
