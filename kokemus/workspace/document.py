"""Reading and writing workspace YAML; every error names the file, line and field."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from kokemus.domain.errors import Invalid, Problem
from kokemus.domain.workspace import Workspace


@dataclass(frozen=True)
class Located:
    problem: Problem
    line: int | None  # 1-based

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.problem.path}: {self.problem.message}"


class WorkspaceFileError(Invalid):
    def __init__(self, source: str, located: list[Located]) -> None:
        self.source = source
        self.located = located
        lines = [f"{source}:{item.line or 1}: {item.problem.path}: {item.problem.message}"
                 for item in located]
        super().__init__("\n".join(lines), [item.problem for item in located])


def _line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """Line of the deepest node the location reaches in the composed YAML tree."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    # The key's line is where a person looks for a missing or wrong value.
                    line, node = key.start_mark.line + 1, value
                    if not isinstance(value, yaml.MappingNode | yaml.SequenceNode):
                        line = value.start_mark.line + 1
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _suggest(model: type[BaseModel], loc: tuple[str | int, ...], word: str) -> str:
    """'did you mean ...' for a misspelt field, from the fields the model allows there."""
    fields: dict[str, Any] = dict(model.model_fields)
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = fields.get(part) if current is not None else None
        current = None
        if field is not None:
            for candidate in _model_types(field.annotation):
                current = candidate
                fields = dict(candidate.model_fields)
                break
        if current is None:
            return ""
    close = difflib.get_close_matches(word, list(fields), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        out.extend(_model_types(arg))
    return out


def _problems(error: ValidationError) -> list[Problem]:
    problems = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        # pydantic names union branches in the location ("str", "dict[...]"); a person does not.
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in {"str"})))
        message = err["msg"]
        if err["type"] == "extra_forbidden" and loc:
            message = f"unknown field '{loc[-1]}'{_suggest(Workspace, loc, str(loc[-1]))}"
        elif err["type"] == "missing":
            message = "required field is missing"
        problems.append(Problem(loc, message))
    # Union types repeat one mistake per branch; keep the first of each location.
    unique: dict[tuple[str | int, ...], Problem] = {}
    for p in problems:
        unique.setdefault(p.loc, p)
    return list(unique.values())


# A workspace nests a few levels (journeys, stages, touchpoints, questions); PyYAML builds
# its nodes recursively and would end in a RecursionError long before a file nested a
# thousand deep was read, so the nesting is measured first, on the parser's flat events.
MAX_DEPTH = 64


def too_deep(text: str) -> int | None:
    """The line where `text` nests deeper than MAX_DEPTH levels, or None. YAMLError when
    it is not YAML at all."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                return mark.line + 1 if mark is not None else 1
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return None


def loads(text: str, source: str = "<workspace>") -> Workspace:
    """Parse and validate a workspace document; WorkspaceFileError lists every problem found."""
    try:
        deep = too_deep(text)
        if deep is not None:
            problem = Problem((), f"nested deeper than {MAX_DEPTH} levels")
            raise WorkspaceFileError(source, [Located(problem, deep)])
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        problem = Problem((), f"not valid YAML: {reason}")
        raise WorkspaceFileError(source, [Located(problem, line)]) from None
    if not isinstance(data, dict):
        raise WorkspaceFileError(
            source, [Located(Problem((), "a workspace file is a YAML mapping"), 1)]
        )
    try:
        workspace = Workspace.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc)
    else:
        problems = workspace.problems()
        if workspace.rules:  # the template check loads Jinja2: only when there are rules
            from kokemus.workspace import templates

            problems += templates.workspace_problems(workspace)
        if not problems:
            return workspace
    raise WorkspaceFileError(source, [Located(p, _line_of(root, p.loc)) for p in problems])


def load(path: Path) -> Workspace:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = Problem((), exc.strerror or str(exc))
        raise WorkspaceFileError(str(path), [Located(problem, None)]) from None
    return loads(text, str(path))


def canonical(workspace: Workspace) -> dict[str, Any]:
    """The document as plain data without defaults: what export writes and digests compare."""
    data: dict[str, Any] = workspace.model_dump(mode="json", exclude_defaults=True, by_alias=True)
    return {"kokemus": workspace.kokemus, **data}


def digest(workspace: Workspace) -> str:
    blob = json.dumps(canonical(workspace), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(workspace: Workspace) -> str:
    """YAML of the workspace, keys in model order, readable Unicode."""
    return yaml.dump(canonical(workspace), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100)


def json_schema() -> dict[str, Any]:
    schema = Workspace.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "kokemus workspace"
    return schema
