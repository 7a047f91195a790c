"""Where each question of a hosted form goes, so that a follow-up appears where the customer
is: right below the question it depends on, revealed by the answer itself, without a script
and without a trip to the server.

Every question is on the page. A question with `show_if` follows the question it names,
inside a group that holds both; each answer of that question that would show the follow-up
carries a class (`reveals-k`, k its follow-up's place in the group), and survey.css shows
follow-up k of a group while such an answer is checked (`:has()`). A browser without
`:has()` shows every follow-up, still in its place; the server's skip logic (domain
Survey.settle) decides what is kept either way, so an answer a changed choice hid is dropped.

The root questions are numbered "k of n" (the progress a customer sees); follow-ups are not
counted, so the count does not jump when one appears.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kokemus.domain.surveys import Survey

# follow-ups a group can reveal in place (survey.css has a rule for each); more are shown
# always, still in place
MAX_FOLLOW_UPS = 8


def arrange(survey: Survey, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` (one per question, as the template draws it) in display order, each with
    `number` and `of` (roots), `follow` (its place among its group's follow-ups, 0 for a
    root), `always` (a follow-up shown whatever the answer), `opens` (starts a group),
    `closes` (groups that end after it) and `reveals` (answer value -> CSS classes)."""
    by_id = {item["id"]: item for item in items}
    follow_ups: dict[str, list[str]] = {}
    for q in survey.questions:
        if q.show_if is not None and q.id in by_id and q.show_if.question in by_id:
            follow_ups.setdefault(q.show_if.question, []).append(q.id)
    placed = {qid for ids in follow_ups.values() for qid in ids}
    roots = [item for item in items if item["id"] not in placed]
    for item in items:
        item.update(number=None, of=len(roots), follow=0, always=False, opens=False,
                    closes=0, reveals={})
    for number, item in enumerate(roots, 1):
        item["number"] = number
    ordered: list[dict[str, Any]] = []
    for root in roots:
        ordered.extend(_emit(root, survey, by_id, follow_ups))
    return ordered


def _emit(item: dict[str, Any], survey: Survey, by_id: dict[str, dict[str, Any]],
          follow_ups: dict[str, list[str]]) -> Iterator[dict[str, Any]]:
    children = [by_id[qid] for qid in follow_ups.get(item["id"], [])]
    if not children:
        yield item
        return
    item["opens"] = True
    values = _values(item)
    for k, child in enumerate(children, 1):
        child["follow"] = k
        condition = survey.question(child["id"])
        # shown whatever the answer: one the page cannot read without a script, beyond the
        # rules survey.css has, or one with a problem to fix (never hidden from its reason)
        if values is None or k > MAX_FOLLOW_UPS or condition is None \
                or condition.show_if is None or child.get("error"):
            child["always"] = True
            continue
        for value in values:
            if condition.show_if.matches(value):
                item["reveals"][value] = f"{item['reveals'].get(value, '')} reveals-{k}".strip()
    yield item
    last: dict[str, Any] = item
    for child in children:
        for emitted in _emit(child, survey, by_id, follow_ups):
            last = emitted
            yield emitted
    last["closes"] += 1


def _values(item: dict[str, Any]) -> list[Any] | None:
    """The answers a question's inputs offer one by one (None: not a choice of inputs the
    page can read without a script, such as free text)."""
    if item.get("kind") == "scale":
        return list(item["points"])
    if item.get("kind") == "choice":
        return [ident for ident, _ in item["options"]]
    return None
