"""The response journal (storage/journal.py) on the real stores: a submission acknowledged
after one app-store commit is seen by every reader before and after the drain, is stored
once however often the drain runs or stops half-way, and keeps every answer when two
submissions of one response meet."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from kokemus import bootstrap
from kokemus.analytics import scores
from kokemus.bootstrap import Kokemus
from kokemus.config import Settings
from kokemus.domain.events import Customer
from kokemus.domain.privacy import Retention
from kokemus.services import feedback, privacy, retention
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import journal, people, responses
from kokemus.storage.tables import response_journal

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def customers(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id="aino", language="fi"), Customer(id="emma", language="en")], NOW)


def journaled(kk: Kokemus, *, drained: bool = False) -> int:
    """Rows in the journal not yet drained (or, with `drained`, drained and kept)."""
    with kk.db.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(response_journal).where(
            response_journal.c.drained.is_(drained))).scalar_one())


def stored_rows(kk: Kokemus, workspace_id: int, response_id: str) -> list[tuple[Any, ...]]:
    with kk.events.reading() as cur:
        return cur.execute("SELECT revision, answers FROM responses WHERE workspace_id = ? "
                           "AND id = ?", [workspace_id, response_id]).fetchall()


def answer(kk: Kokemus, workspace: ActiveWorkspace, customer: str, answers: dict[str, Any],
           *, complete: bool = False, response_id: str | None = None,
           invitation: dict[str, Any] | None = None) -> dict[str, Any]:
    survey = feedback.survey_of(workspace, "after-delivery")
    ident = response_id or (invitation["id"] if invitation else feedback.new_id())
    return feedback.submit(kk, workspace, survey, answers, response_id=ident, source="api",
                           now=NOW, complete=complete, customer=customer,
                           invitation=invitation)


@pytest.mark.usefixtures("customers")
def test_an_acknowledged_answer_is_read_before_the_drain_and_stored_once_after(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    invitation = feedback.invite(kk.db, workspace, "after-delivery", "aino", channel="email",
                                 now=NOW)
    row = answer(kk, workspace, "aino", {"recommend": 3, "effort": 2}, complete=True,
                 invitation=invitation)
    assert row["revision"] == 1
    # one commit: the invitation is answered and remembers the revision saved
    marked = feedback.get_invitation(kk.db, invitation["id"])
    assert marked is not None and marked["status"] == "answered"
    assert marked["response_revision"] == 1 and marked["opened_at"] == NOW
    # readers of the event store drain first: the scores count it at once
    with kk.events.reading() as cur:
        overall = scores.overall(cur, workspace.id, min_n=1)
    assert overall.nps.n == 1
    assert journaled(kk) == 0
    assert [r[0] for r in stored_rows(kk, workspace.id, invitation["id"])] == [1]
    # a second drain (a restart, say) changes nothing
    assert kk.journal.drain() == 0
    assert len(stored_rows(kk, workspace.id, invitation["id"])) == 1


@pytest.mark.usefixtures("customers")
def test_a_journal_left_by_a_stopped_server_is_drained_by_the_next_reader(
        settings: Settings, workspace: ActiveWorkspace) -> None:
    with bootstrap.build(settings) as kk:
        survey = feedback.survey_of(workspace, "after-delivery")
        planned = feedback.submission(kk, workspace, survey, {"recommend": 9},
                                      response_id="r1", source="api", now=NOW,
                                      customer="emma")
        first = planned.entry.change(None)
        second = planned.entry.change(first)
        # a server stopped after its commit and before the journal's delete: revision 1 in
        # DuckDB, revision 2 acknowledged and only in the journal
        kk.events.submit_job(journal._apply, [first]).result()
        with kk.db.begin() as conn:
            conn.execute(insert(response_journal), [{
                "workspace_id": workspace.id, "id": "r1", "revision": 2, "customer": "emma",
                "row": journal.dumps(second), "drained": False,
                "saved_at": datetime.now(UTC)}])
    with bootstrap.build(settings) as kk:
        got = responses.get(kk.events, workspace.id, "r1")
        assert got is not None and got["revision"] == 2 and got["answers"] == {"recommend": 9}
        assert [r[0] for r in stored_rows(kk, workspace.id, "r1")] == [2]
        assert journaled(kk) == 0 and journaled(kk, drained=True) == 1


@pytest.mark.usefixtures("customers")
def test_a_reader_during_a_drain_waits_for_it(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    """The drain marks the journal applied before it applies what it read: a reader that
    came in between read DuckDB without the answer (seen in the form's tests as an answer
    thanked for and then not found). It waits for the drain instead."""
    row = answer(kk, workspace, "emma", {"recommend": 8})
    busy = threading.Event()
    kk.events.submit_job(lambda _con, jobs: [busy.wait(10) for _ in jobs], None)
    with ThreadPoolExecutor(2) as pool:
        draining = pool.submit(kk.journal.drain)
        deadline = time.monotonic() + 10
        while ((kk.journal._unapplied or not kk.journal._draining.locked())
               and time.monotonic() < deadline):
            time.sleep(0.005)  # the drain has read the journal; DuckDB's writer is held
        reader = pool.submit(responses.get, kk.events, workspace.id, row["id"])
        time.sleep(0.1)
        waited = not reader.done()
        busy.set()
        got = reader.result(10)
        assert draining.result(10) == 1
    assert waited
    assert got is not None and got["answers"] == {"recommend": 8}


def test_applying_twice_or_an_older_revision_changes_nothing(kk: Kokemus) -> None:
    base = {"workspace_id": 1, "id": "r1", "survey": "s", "invitation": None,
            "customer": "c", "account": None, "role": None, "segments": [],
            "touchpoint": None, "channel": None, "source": "api", "language": "fi",
            "event_id": None, "answers": {"recommend": 1}, "nps": 1, "ces": None,
            "csat": None, "comment": None, "complete": False, "started_at": NOW,
            "updated_at": NOW, "revision": 3}
    older = {**base, "revision": 2, "answers": {"recommend": 0}, "nps": 0}
    for rows, applied in (([base], 1), ([base], 0), ([older], 0)):
        assert kk.events.submit_job(journal._apply, rows).result() == applied
    assert stored_rows(kk, 1, "r1") == [(3, '{"recommend":1}')]


@pytest.mark.usefixtures("customers")
def test_submissions_of_one_response_that_meet_keep_every_answer(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    questions = ["recommend", "effort", "satisfied"]
    values = {"recommend": 7, "effort": 5, "satisfied": 4}

    def one(i: int) -> None:
        if i % 4 == 0:
            kk.journal.drain()  # drains meet the writes too
        question = questions[i % 3]
        answer(kk, workspace, "emma", {question: values[question]}, response_id="shared")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(60)))
    row = responses.get(kk.events, workspace.id, "shared")
    assert row is not None and row["revision"] == 60
    assert row["answers"] == values
    assert journaled(kk) == 0 and len(stored_rows(kk, workspace.id, "shared")) == 1
    # still in progress: its newest revision stays, drained, for the respondent's next post
    assert journaled(kk, drained=True) == 1
    assert kk.journal.get(workspace.id, "shared") == row
    done = answer(kk, workspace, "emma", {}, complete=True, response_id="shared")
    assert done["revision"] == 61 and done["answers"] == values
    assert kk.journal.drain() == 1
    assert journaled(kk) == 0 and journaled(kk, drained=True) == 0  # complete: forgotten


@pytest.mark.usefixtures("customers")
def test_erasure_leaves_nothing_of_the_customer_in_the_journal(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    answer(kk, workspace, "aino", {"recommend": 2, "why": "Rikki"}, response_id="r-aino")
    answer(kk, workspace, "emma", {"recommend": 9}, response_id="r-emma")
    kk.journal.close()  # no drain thread from here: only erasure drains
    privacy.erase_customer(kk, workspace, "aino", actor="test", mode="delete")
    with kk.db.connect() as conn:
        left = conn.execute(select(response_journal.c.customer)).scalars().all()
    assert left == ["emma"]
    assert responses.get(kk.events, workspace.id, "r-aino") is None
    kept = responses.get(kk.events, workspace.id, "r-emma")
    assert kept is not None and kept["answers"] == {"recommend": 9}


@pytest.mark.usefixtures("customers")
def test_a_form_link_never_answered_reads_nothing_saved(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    invitation = feedback.invite(kk.db, workspace, "after-delivery", "aino", channel="email",
                                 now=NOW)
    token = feedback.link("http://x", "test-secret", invitation).rsplit("/", 1)[1]
    opened = feedback.open_link(kk, "test-secret", token, NOW + timedelta(minutes=1))
    assert opened.invitation["response_revision"] is None and opened.response is None
    answer(kk, workspace, "aino", {"recommend": 5}, invitation=opened.invitation)
    again = feedback.open_link(kk, "test-secret", token, NOW + timedelta(minutes=2))
    assert again.response is not None and again.response["answers"] == {"recommend": 5}


@pytest.mark.usefixtures("customers")
def test_retention_of_comments_leaves_no_copy_in_the_journal(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    answer(kk, workspace, "aino", {"recommend": 2, "why": "Rikki"}, response_id="r-old")
    kk.journal.drain()
    assert journaled(kk, drained=True) == 1  # in progress: a drained copy with its text
    document = workspace.document.model_copy(update={"retention": Retention(comments="7d")})
    workspace_service.apply(kk.db, document, source="test")
    ws = workspace_service.get(kk.db, workspace.slug)
    retention.apply_workspace(kk, ws, NOW + timedelta(days=30))
    assert journaled(kk, drained=True) == 0
    kept = responses.get(kk.events, ws.id, "r-old")
    assert kept is not None and kept["comment"] is None and kept["answers"] == {"recommend": 2}
