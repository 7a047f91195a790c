"""Retention: raw data older than a workspace's periods (`retention:` in its file) goes.

- events whose `occurred_at` is older than `retention.events` are deleted; the case-ordered
  copies are rebuilt when any went (their seq bound cannot see a deletion);
- responses started longer ago than `retention.comments` lose their open text (the
  `comment` and the text questions' answers); scores, choices and the rest stay.

Responses are not raw events: their scores are the aggregates the periods protect, and an
answer without its comment says nothing a person wrote. The worker of `kokemus serve`
applies it (engine/worker.py); deleted values leave the DuckDB file's live tables at once
and its freed blocks as later writes reuse them (an erasure rewrites the file at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kokemus.analytics import ordering
from kokemus.bootstrap import Kokemus
from kokemus.domain.surveys import without_free_text
from kokemus.services import workspaces
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses as response_store
from kokemus.storage.events import deleted


@dataclass
class Retained:
    """What a retention run removed, per workspace slug."""

    events: dict[str, int] = field(default_factory=dict)
    comments: dict[str, int] = field(default_factory=dict)
    rebuilt: bool = False

    @property
    def removed(self) -> bool:
        return any(self.events.values()) or any(self.comments.values())


def apply(kk: Kokemus, now: datetime | None = None) -> Retained:
    """Apply every workspace's retention periods at `now` (default: the clock)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    done = Retained()
    for slug in workspaces.slugs(kk.db):
        workspace = workspaces.get(kk.db, slug)
        events, comments = apply_workspace(kk, workspace, now)
        if events:
            done.events[slug] = events
        if comments:
            done.comments[slug] = comments
    if any(done.events.values()):
        with kk.events.reading() as cursor:
            done.rebuilt = ordering.rebuild_if_made(cursor) is not None
    return done


def apply_workspace(kk: Kokemus, workspace: ActiveWorkspace, now: datetime) -> tuple[int, int]:
    """(events deleted, responses whose comments were removed) in one workspace; the copies
    are left to the caller."""
    policy = workspace.document.retention
    events = comments = 0
    if policy.events_seconds is None and policy.comments_seconds is None:
        return 0, 0
    with kk.events.writing() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            if policy.events_seconds is not None:
                cutoff = now - timedelta(seconds=policy.events_seconds)
                events = deleted(con, "DELETE FROM events WHERE workspace_id = ? AND "
                                 "occurred_at < ?", [workspace.id, cutoff])
            if policy.comments_seconds is not None:
                cutoff = now - timedelta(seconds=policy.comments_seconds)
                comments = _drop_comments(con, workspace, cutoff)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    if policy.comments_seconds is not None:
        # the journal's drained copies of responses in progress (storage/journal.py) kept
        # their text: DuckDB holds them, so they go whole
        kk.journal.forget_drained(workspace.id)
    return events, comments


def _drop_comments(con: Any, workspace: ActiveWorkspace, cutoff: datetime) -> int:
    def without_text(row: dict[str, Any]) -> dict[str, Any]:
        survey = workspace.document.survey(row["survey"])
        return {**row, "comment": None, "answers": without_free_text(row["answers"], survey)}

    return response_store.rewrite(
        con, "workspace_id = ? AND started_at < ? AND comment IS NOT NULL",
        [workspace.id, cutoff], without_text)
