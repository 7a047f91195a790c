"""One item of a top-level list of the workspace document (a survey, a rule) edited as its
own text: cut out of the YAML that `export` writes, put back into the whole document for
the loader to validate, and the loader's problems located in the item's own lines."""

from __future__ import annotations

from dataclasses import dataclass

from kokemus.domain.errors import NotFound, Problem
from kokemus.domain.workspace import Workspace
from kokemus.workspace import document
from kokemus.workspace.document import Located


@dataclass(frozen=True)
class Split:
    """The document's text cut around the list under `key`."""

    head: str  # everything before the `key:` line
    items: list[str]  # each item as its list item ("- id: ...\n  name: ...\n")
    tail: str = ""  # the top-level keys after the list


def split(workspace: Workspace, key: str) -> Split:
    """The exported document cut around its `key` list. The items run to the next top-level
    key (a line that starts with neither a space nor "- "); later keys stay in `tail`."""
    text = document.dump(workspace)
    lines = text.splitlines(keepends=True)
    try:
        start = lines.index(f"{key}:\n")
    except ValueError:
        return Split(text, [])
    items: list[str] = []
    end = len(lines)
    for i, line in enumerate(lines[start + 1:], start + 1):
        if line.strip() and not line.startswith((" ", "- ")):
            end = i
            break
        if line.startswith("- ") or not items:
            items.append(line)
        else:
            items[-1] += line
    return Split("".join(lines[:start]), items, "".join(lines[end:]))


def item_text(item: str) -> str:
    """A list item unindented: its lines are "- first" and "  rest", and the same two
    columns come off each."""
    return "".join(line[2:] if len(line) > 2 else line.lstrip(" -")
                   for line in item.splitlines(keepends=True))


def indented(text: str) -> str:
    """The text as a list item whose content starts on the next line ("-\\n  ..."), so a
    leading comment or blank line in the text stays valid and lines map one to one."""
    body = "".join(f"  {line}" if line.strip() else line
                   for line in text.splitlines(keepends=True))
    return "-\n" + body + ("" if body.endswith("\n") else "\n")


def put_back(cut: Split, key: str, text: str, at: int | None) -> tuple[str, int, int, int]:
    """The whole document with `text` as the item at `at` (None: appended), the item's
    place, and the document lines its text's first and last lines are on."""
    items = list(cut.items)
    if at is None:
        at = len(items)
        items.append("")
    before = cut.head + f"{key}:\n" + "".join(items[:at])
    first = before.count("\n") + 2  # the text's first line, after the "-" line
    last = first + max(len(text.splitlines()), 1) - 1
    return before + indented(text) + "".join(items[at + 1:]) + cut.tail, at, first, last


def relative(item: Located, key: str, at: int, first: int, last: int) -> Located:
    """A problem of the whole document as one of the edited item: its field without the
    `key`, at position prefix, and its line counted in the item's text. A problem of
    another part (a reference elsewhere) keeps its field and has no line."""
    loc = item.problem.loc
    inside = loc[:2] == (key, at)
    if inside:
        loc = loc[2:]
    line = item.line
    if line is not None:
        line = max(line - first + 1, 1) if first <= line <= last + 1 else None
    if not inside and loc:
        return Located(Problem(loc, item.problem.message), None)
    return Located(Problem(loc, item.problem.message), line)


def position(workspace: Workspace, key: str, item_id: str) -> int:
    """Where the item `item_id` of the list `key` (surveys, rules) is; NotFound if nowhere."""
    for i, item in enumerate(getattr(workspace, key)):
        if item.id == item_id:
            return i
    raise NotFound(f"no {key.removesuffix('s')} '{item_id}' in workspace "
                   f"'{workspace.workspace}'")
