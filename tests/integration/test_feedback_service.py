"""Invitations, signed links and responses on the real stores (SQLite or PostgreSQL app
store, DuckDB responses)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kokemus.bootstrap import Kokemus
from kokemus.domain.events import Customer
from kokemus.domain.surveys import AnswerError
from kokemus.services import feedback
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "test-secret"


@pytest.fixture
def customers(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id="aino", email="aino@example.fi", language="fi", segments=["households"]),
        Customer(id="emma", email="emma@example.com", language="en"),
        Customer(id="sven", email="sven@example.se", language="sv"),
    ], NOW)


def invited(kk: Kokemus, workspace: ActiveWorkspace, customer: str) -> tuple[dict[str, Any], str]:
    invitation = feedback.invite(kk.db, workspace, "after-delivery", customer, channel="email",
                                 now=NOW)
    return invitation, feedback.link("http://x", SECRET, invitation).rsplit("/", 1)[1]


@pytest.mark.usefixtures("customers")
def test_partial_answers_then_completion_make_one_response(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    invitation, token = invited(kk, workspace, "aino")
    opened = feedback.open_link(kk, SECRET, token, NOW)
    assert opened.language == "fi" and opened.response is None
    first = feedback.submit(kk, opened.workspace, opened.survey, {"recommend": 4},
                            response_id=invitation["id"], invitation=opened.invitation,
                            source="email", now=NOW)
    assert (first["nps"], first["complete"], first["revision"]) == (4, False, 1)

    with pytest.raises(AnswerError, match="effort: 8 is outside the scale 1-7"):
        feedback.submit(kk, opened.workspace, opened.survey, {"effort": 8},
                        response_id=invitation["id"], invitation=opened.invitation,
                        source="form", now=NOW)
    kept = responses.get(kk.events, workspace.id, invitation["id"])
    assert kept is not None and kept["answers"] == {"recommend": 4}  # nothing lost

    later = NOW + timedelta(minutes=3)
    again = feedback.open_link(kk, SECRET, token, later)
    assert again.response is not None and again.response["answers"] == {"recommend": 4}
    done = feedback.submit(kk, again.workspace, again.survey,
                           {"effort": 2, "why": "Pesukone tuli rikki"},
                           response_id=invitation["id"], invitation=again.invitation,
                           source="form", now=later, complete=True)
    assert (done["nps"], done["ces"], done["revision"], done["complete"]) == (4, 2, 2, True)
    assert done["comment"] == "Pesukone tuli rikki"
    assert done["segments"] == ["households"] and done["channel"] == "web"
    assert done["started_at"] == NOW and done["updated_at"] == later
    assert responses.count(kk.events, workspace.id) == 1
    stored = feedback.get_invitation(kk.db, invitation["id"])
    assert stored is not None and stored["status"] == "answered"

    with pytest.raises(feedback.LinkError) as reused:
        feedback.open_link(kk, SECRET, token, later)
    assert reused.value.problem == "answered" and reused.value.language == "fi"


@pytest.mark.usefixtures("customers")
def test_forged_expired_and_foreign_links_are_refused(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    _, token = invited(kk, workspace, "emma")
    body, mac = token.rsplit(".", 1)
    forged = [token[:-1] + ("A" if token[-1] != "A" else "B"), "nonsense", body + ".",
              body.rsplit(".", 1)[0] + ".ffffffff." + mac]  # a later expiry, the old signature
    for bad in forged:
        with pytest.raises(feedback.LinkError) as caught:
            feedback.open_link(kk, SECRET, bad, NOW)
        assert caught.value.problem == "forged", bad
    with pytest.raises(feedback.LinkError) as other_key:
        feedback.open_link(kk, "another-secret", token, NOW)
    assert other_key.value.problem == "forged"
    with pytest.raises(feedback.LinkError) as expired:
        feedback.open_link(kk, SECRET, token, NOW + timedelta(days=14, seconds=1))
    assert expired.value.problem == "expired"
    assert feedback.open_link(kk, SECRET, token, NOW + timedelta(days=13)).language == "en"


@pytest.mark.usefixtures("customers")
def test_language_falls_back_to_the_workspaces_first(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    _, token = invited(kk, workspace, "sven")  # Swedish, and the workspace speaks fi, en
    assert feedback.open_link(kk, SECRET, token, NOW).language == "fi"


@pytest.mark.usefixtures("customers")
def test_opt_out_is_remembered_and_cancels_planned_invitations(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    assert not feedback.opted_out(kk.db, workspace.id, "aino")
    feedback.opt_out(kk.db, workspace.id, "aino", source="form", now=NOW)
    feedback.opt_out(kk.db, workspace.id, "aino", source="form", now=NOW)  # idempotent
    assert feedback.opted_out(kk.db, workspace.id, "aino")
    assert not feedback.opted_out(kk.db, workspace.id, "emma")


def test_unknown_survey_or_customer_is_named(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    with pytest.raises(feedback.NotFound, match="known: after-delivery"):
        feedback.invite(kk.db, workspace, "nope", "aino", channel="email", now=NOW)
    with pytest.raises(feedback.NotFound, match="no customer 'ghost'"):
        feedback.invite(kk.db, workspace, "after-delivery", "ghost", channel="email", now=NOW)
