"""Export, erasure, consent and retention on the real stores: the SQLite (or PostgreSQL) app
store and the DuckDB event store, down to the bytes of their files."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from kokemus.bootstrap import Kokemus
from kokemus.domain.errors import NotFound
from kokemus.domain.events import Account, Customer
from kokemus.domain.privacy import ConsentStatement, Retention
from kokemus.engine import worker
from kokemus.engine.dispatch import dispatch
from kokemus.engine.triggers import plan
from kokemus.services import audit, consents, feedback, ingest, privacy, retention
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses
from kokemus.storage.tables import metadata

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECRET = "test-secret"

# What the erased customer leaves in the stores; every value is unique to them.
CUSTOMER = "tuuli-7731"
EMAIL = "tuuli.salakari@example.fi"
NAME = "Tuuli Salakari"
ADDRESS = "Salakatu 99 B 12"
COMMENT = "Kuljettaja Zqxwv rikkoi pesukoneen"
EVENT_IDS = ("ord-tuuli-7731", "dlv-tuuli-7731")
SECRETS = (CUSTOMER, EMAIL, NAME, ADDRESS, COMMENT, *EVENT_IDS)


def events(customer: str, prefix: str, at: datetime, **properties: Any) -> list[dict[str, Any]]:
    return [
        {"id": f"ord-{prefix}", "type": "order_placed", "customer": customer, "channel": "web",
         "occurred_at": at.isoformat(), "properties": properties},
        {"id": f"dlv-{prefix}", "type": "delivered", "customer": customer, "channel": "web",
         "occurred_at": (at + timedelta(days=2)).isoformat(), "properties": properties},
    ]


def store(kk: Kokemus, workspace: ActiveWorkspace, items: list[dict[str, Any]]) -> None:
    done = ingest.ingest_events(items, workspace, kk.events)
    assert done.accepted == len(items), done.rejected


def answer(kk: Kokemus, workspace: ActiveWorkspace, customer: str, nps: int,
           why: str | None = None) -> dict[str, Any]:
    invitation = feedback.invite(kk.db, workspace, "after-delivery", customer, channel="email",
                                 now=NOW, event_id=f"dlv-{customer}")
    survey = feedback.survey_of(workspace, "after-delivery")
    answers: dict[str, Any] = {"recommend": nps, "effort": 6}
    if why:
        answers["why"] = why
    return feedback.submit(kk, workspace, survey, answers, response_id=invitation["id"],
                           invitation=invitation, source="email", now=NOW, complete=True)


@pytest.fixture
def planted(kk: Kokemus, workspace: ActiveWorkspace) -> ActiveWorkspace:
    """Tuuli (to be erased) and two other customers with events, answers and consents; the
    journeys' case-ordered copies built; the event store checkpointed."""
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id=CUSTOMER, email=EMAIL, name=NAME, language="fi"),
        Customer(id="aino", email="aino@example.fi", name="Aino A", language="fi"),
        Customer(id="emma", email="emma@example.com", name="Emma E", language="en"),
    ], NOW)
    store(kk, workspace, events(CUSTOMER, CUSTOMER, NOW - timedelta(days=5), address=ADDRESS,
                                email=EMAIL))
    store(kk, workspace, events("aino", "aino", NOW - timedelta(days=5), address="Kotikatu 1"))
    store(kk, workspace, events("emma", "emma", NOW - timedelta(days=4)))
    answer(kk, workspace, CUSTOMER, 3, COMMENT)
    answer(kk, workspace, "aino", 5, "Kaikki hyvin")
    answer(kk, workspace, "emma", 9)
    consents.record(kk.db, workspace, CUSTOMER, ConsentStatement(
        purpose="marketing", granted=True, channel="web", text_version="v3"),
        source="api", actor="test", now=NOW)
    worker.order_journeys(kk, force=True)
    with kk.events.writing() as con:
        con.execute("CHECKPOINT")
    return workspace


def event_store_bytes(kk: Kokemus) -> bytes:
    path = Path(kk.events.path)
    wal = path.with_name(path.name + ".wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def app_store_bytes(kk: Kokemus) -> bytes | None:
    if kk.db.dialect.name != "sqlite":
        return None
    path = Path(str(kk.db.url.database))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def app_store_rows(kk: Kokemus) -> dict[str, list[str]]:
    """Every row of every app-store table, as text."""
    with kk.db.connect() as conn:
        return {table.name: [repr(tuple(row)) for row in conn.execute(select(table))]
                for table in metadata.sorted_tables}


def event_store_rows(kk: Kokemus) -> str:
    with kk.events.reading() as cur:
        tables = [r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        return repr({t: cur.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables})


def dfg_counts(kk: Kokemus, workspace: ActiveWorkspace) -> list[tuple[Any, ...]]:
    with kk.events.reading() as cur:
        return sorted(cur.execute(
            "SELECT touchpoint, channel, count(*), count(DISTINCT customer) FROM events "
            "WHERE workspace_id = ? GROUP BY ALL", [workspace.id]).fetchall())


def test_export_holds_everything_about_the_customer_and_is_audited(
        kk: Kokemus, planted: ActiveWorkspace) -> None:
    document = privacy.export_customer(kk, planted, CUSTOMER, actor="key:abcd1234")
    assert document["kind"] == "customer" and document["workspace"] == "my-company"
    assert document["customer"]["email"] == EMAIL and document["customer"]["name"] == NAME
    assert [e["id"] for e in document["events"]] == list(EVENT_IDS)
    assert document["events"][0]["properties"] == {"address": ADDRESS, "email": EMAIL}
    assert [r["comment"] for r in document["responses"]] == [COMMENT]
    assert document["responses"][0]["answers"] == {"recommend": 3, "effort": 6, "why": COMMENT}
    assert [i["status"] for i in document["invitations"]] == ["answered"]
    history = document["consents"]["history"]
    assert [(h["purpose"], h["granted"], h["text_version"]) for h in history] == [
        ("marketing", True, "v3")]
    assert document["consents"]["current"]["marketing"]["allowed"] is True
    assert document["consents"]["current"]["device_actions"] == {"allowed": False,
                                                                  "by": "default"}
    # nothing of another customer
    assert "aino" not in repr(document) and "Kotikatu" not in repr(document)
    entries, _ = audit.entries(kk.db, workspace="my-company")
    assert (entries[0]["action"], entries[0]["actor"], entries[0]["target"]) == (
        "customer.export", "key:abcd1234", CUSTOMER)
    with pytest.raises(NotFound):
        privacy.export_customer(kk, planted, "nobody", actor="test")


def test_export_of_an_account_holds_its_people(kk: Kokemus, planted: ActiveWorkspace) -> None:
    people.upsert_accounts(kk.db, planted.id, [Account.model_validate({
        "id": "acme", "name": "Acme Oy",
        "stakeholders": [{"customer": "aino", "role": "decider"},
                         {"customer": "emma", "role": "user"}]})], NOW)
    document = privacy.export_account(kk, planted, "acme", actor="test")
    assert document["account"]["name"] == "Acme Oy"
    assert [p["id"] for p in document["people"]] == ["aino", "emma"]
    assert document["people"][0]["customer"]["role"] == "decider"
    assert [e["id"] for e in document["people"][0]["events"]] == ["ord-aino", "dlv-aino"]
    assert CUSTOMER not in repr(document)


def test_erasure_leaves_no_trace_in_any_store_and_keeps_the_aggregates(
        kk: Kokemus, planted: ActiveWorkspace) -> None:
    before_bytes = event_store_bytes(kk)
    for value in SECRETS:  # the search would find them: they are stored as plain bytes
        assert value == NAME or value.encode() in before_bytes, value
    app_bytes = app_store_bytes(kk)
    if app_bytes is not None:
        assert EMAIL.encode() in app_bytes and NAME.encode() in app_bytes
    counts = dfg_counts(kk, planted)
    nps = sorted(r["nps"] for r in responses.browse(
        kk.events, planted.id, responses.ResponseFilter(), 10, 0)[0])

    done = privacy.erase_customer(kk, planted, CUSTOMER, actor="cli:tester")

    assert (done.profile, done.events, done.responses, done.invitations, done.consents) == (
        True, 2, 1, 1, 1)
    # the event store: no value of hers in any table, nor in the file's bytes
    with kk.events.writing() as con:
        con.execute("CHECKPOINT")
    rows = event_store_rows(kk)
    after_bytes = event_store_bytes(kk)
    for value in SECRETS:
        assert value not in rows, value
        assert value.encode() not in after_bytes, value
    # the app store: the id only in the audit log and the suppression list; nothing else
    for table, found in app_store_rows(kk).items():
        for value in SECRETS:
            if table in ("audit_log", "opt_outs") and value == CUSTOMER:
                continue
            assert not any(value in row for row in found), (table, value)
    app_bytes = app_store_bytes(kk)
    if app_bytes is not None:
        for value in SECRETS[1:]:
            assert value.encode() not in app_bytes, value
    # the aggregates stay: the same counts per touchpoint and of distinct customers, scores
    assert dfg_counts(kk, planted) == counts
    kept = responses.browse(kk.events, planted.id, responses.ResponseFilter(), 10, 0)[0]
    assert sorted(r["nps"] for r in kept) == nps
    anonymous = next(r for r in kept if r["nps"] == 3)
    assert anonymous["customer"].startswith("erased-") and anonymous["comment"] is None
    assert anonymous["answers"] == {"recommend": 3, "effort": 6}
    with kk.events.reading() as cur:  # her response still points at her (renamed) event
        linked = cur.execute("SELECT customer, properties FROM events WHERE id = ?",
                             [anonymous["event_id"]]).fetchall()
    assert linked == [(anonymous["customer"], None)]
    # the copies were rebuilt and are read (fresh), without her id
    assert not worker.order_journeys(kk).rebuilt
    # the erasure is on record, with nothing about her but the id, and no pseudonym
    entries, _ = audit.entries(kk.db, workspace="my-company")
    erased = next(e for e in entries if e["action"] == "customer.erase")
    assert (erased["actor"], erased["target"]) == ("cli:tester", CUSTOMER)
    assert anonymous["customer"] not in repr(entries)
    # earlier entries about her (her consent, an export) keep what was done, not whose
    assert [e["action"] for e in entries if CUSTOMER in repr(e)] == ["customer.erase"]
    assert "customer.consent" in [e["action"] for e in entries]
    # she gets no survey again, even if her id comes back; a second erasure finds nothing
    assert not consents.may_contact(kk.db, planted.id, CUSTOMER, "surveys")
    with pytest.raises(NotFound):
        privacy.erase_customer(kk, planted, CUSTOMER, actor="cli:tester")
    # what is left to export is what is kept: the suppression entry
    left = privacy.export_customer(kk, planted, CUSTOMER, actor="cli:tester")
    assert left["opt_out"]["source"] == "erasure"
    assert (left["customer"], left["events"], left["responses"], left["invitations"],
            left["consents"]["history"]) == (None, [], [], [], [])


def test_erasure_by_deletion_removes_the_facts_too(kk: Kokemus,
                                                    planted: ActiveWorkspace) -> None:
    done = privacy.erase_customer(kk, planted, CUSTOMER, actor="test", mode="delete")
    assert (done.events, done.responses) == (2, 1)
    assert kk.events.count(planted.id) == 4
    assert responses.count(kk.events, planted.id) == 2
    after = event_store_bytes(kk)
    assert not any(value.encode() in after for value in SECRETS)


def test_consent_history_state_and_may_contact(kk: Kokemus, workspace: ActiveWorkspace) -> None:
    ws, c = workspace, "aino"
    # nothing said: surveys allowed, marketing and device actions not
    assert [consents.may_contact(kk.db, ws.id, c, p)
            for p in ("surveys", "marketing", "device_actions")] == [True, False, False]

    def say(purpose: Any, granted: bool, minutes: int) -> None:
        consents.record(kk.db, ws, c, ConsentStatement(
            purpose=purpose, granted=granted, at=NOW + timedelta(minutes=minutes),
            channel="store", text_version="2026-01"), source="api", actor="key:x")

    say("marketing", True, 0)
    say("device_actions", True, 1)
    say("marketing", False, 2)
    say("marketing", True, -10)  # reported late: older than the withdrawal, not in force
    assert [consents.may_contact(kk.db, ws.id, c, p)
            for p in ("surveys", "marketing", "device_actions")] == [True, False, True]
    state = consents.current(kk.db, ws.id, c)
    assert state["marketing"]["allowed"] is False and state["marketing"]["by"] == "statement"
    assert state["marketing"]["at"] == NOW + timedelta(minutes=2)
    assert state["surveys"] == {"allowed": True, "by": "default"}
    assert [(h["purpose"], h["granted"], h["at"] - NOW, h["channel"], h["text_version"])
            for h in consents.history(kk.db, ws.id, c)] == [  # oldest first
        ("marketing", True, timedelta(minutes=-10), "store", "2026-01"),
        ("marketing", True, timedelta(0), "store", "2026-01"),
        ("device_actions", True, timedelta(minutes=1), "store", "2026-01"),
        ("marketing", False, timedelta(minutes=2), "store", "2026-01")]
    assert consents.allowed(kk.db, ws.id, ["aino", "emma"], "device_actions") == {"aino"}
    entries, total = audit.entries(kk.db, workspace=ws.slug)
    assert total == 4 and {e["action"] for e in entries} == {"customer.consent"}


def _due_invitation(kk: Kokemus, workspace: ActiveWorkspace, customer: str) -> None:
    store(kk, workspace, events(customer, customer, NOW - timedelta(days=2, hours=3)))
    plan(kk, NOW)


def test_withdrawn_surveys_consent_skips_invitations_and_matches_the_opt_out(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id=c, email=f"{c}@example.fi") for c in ("aino", "emma", "sven")], NOW)
    consents.record(kk.db, workspace, "aino", ConsentStatement(
        purpose="surveys", granted=False, channel="phone"), source="api", actor="t", now=NOW)
    feedback.opt_out(kk.db, workspace.id, "emma", source="link", now=NOW)
    # the link's opt-out is a withdrawn consent; the API's withdrawal is an opt-out
    assert consents.current(kk.db, workspace.id, "emma")["surveys"]["granted"] is False
    assert feedback.opted_out(kk.db, workspace.id, "aino")
    for c in ("aino", "emma", "sven"):
        _due_invitation(kk, workspace, c)

    class Outbox:
        def send(self, message: Any) -> None:
            self.sent = getattr(self, "sent", 0) + 1

        def close(self) -> None:
            pass

    mailer = Outbox()
    done = dispatch(kk, NOW, mailer)  # type: ignore[arg-type]
    assert (dict(done.skipped), done.sent) == ({"opted out": 2}, 1)
    # a new grant takes the customer off the opt-out list: surveys again
    consents.record(kk.db, workspace, "aino", ConsentStatement(
        purpose="surveys", granted=True, channel="web"), source="api", actor="t",
        now=NOW + timedelta(minutes=1))
    assert not feedback.opted_out(kk.db, workspace.id, "aino")
    assert consents.may_contact(kk.db, workspace.id, "aino", "surveys")
    assert not consents.may_contact(kk.db, workspace.id, "emma", "surveys")


def test_a_withdrawal_off_the_opt_out_list_is_still_honoured(
        kk: Kokemus, workspace: ActiveWorkspace) -> None:
    """A statement stored by another path (an import) without the opt-out list: dispatch
    reads the consent itself and says why it skipped."""
    from sqlalchemy import insert

    from kokemus.storage.tables import consents as consent_table
    people.upsert_customers(kk.db, workspace.id, [Customer(id="aino", email="a@example.fi")],
                            NOW)
    with kk.db.begin() as conn:
        conn.execute(insert(consent_table).values(
            workspace_id=workspace.id, customer="aino", purpose="surveys", granted=False,
            at=NOW - timedelta(days=1), channel="import", source="import"))
    _due_invitation(kk, workspace, "aino")

    class Mailer:
        def send(self, message: Any) -> None:
            raise AssertionError("no email may go")

        def close(self) -> None:
            pass

    done = dispatch(kk, NOW, Mailer())  # type: ignore[arg-type]
    assert dict(done.skipped) == {"no consent": 1}


def with_retention(kk: Kokemus, workspace: ActiveWorkspace, **periods: str) -> ActiveWorkspace:
    document = workspace.document.model_copy(update={"retention": Retention(**periods)})
    workspace_service.apply(kk.db, document, source="test")
    return workspace_service.get(kk.db, workspace.slug)


def test_retention_deletes_old_events_and_old_comments(kk: Kokemus,
                                                       workspace: ActiveWorkspace) -> None:
    people.upsert_customers(kk.db, workspace.id, [
        Customer(id=c, email=f"{c}@example.fi") for c in ("old", "new")], NOW)
    store(kk, workspace, events("old", "old", NOW - timedelta(days=40)))  # 40 and 38 days
    store(kk, workspace, events("new", "new", NOW - timedelta(days=29)))  # 29 and 27 days
    old = answer(kk, workspace, "old", 2, "Liian hidas")
    new = answer(kk, workspace, "new", 6, "Ihan ok")
    with kk.events.writing() as con:  # the old answer was started 10 days ago
        con.execute("UPDATE responses SET started_at = started_at - INTERVAL 10 DAY "
                    "WHERE id = ?", [old["id"]])
    worker.order_journeys(kk, force=True)
    ws = with_retention(kk, workspace, events="30d", comments="7d")

    done = retention.apply(kk, NOW)

    assert done.events == {"my-company": 2} and done.comments == {"my-company": 1}
    assert done.rebuilt
    with kk.events.reading() as cur:
        left = cur.execute("SELECT id FROM events ORDER BY seq").fetchall()
        copy = cur.execute("SELECT DISTINCT case_id FROM journeys_by_customer").fetchall()
    assert left == [("ord-new",), ("dlv-new",)] and copy == [("new",)]
    kept_old = responses.get(kk.events, ws.id, old["id"])
    assert kept_old is not None
    assert (kept_old["comment"], kept_old["answers"], kept_old["nps"]) == (
        None, {"recommend": 2, "effort": 6}, 2)
    kept_new = responses.get(kk.events, ws.id, new["id"])
    assert kept_new is not None and kept_new["comment"] == "Ihan ok"
    again = retention.apply(kk, NOW)  # nothing more to do
    assert not again.removed and not again.rebuilt


def test_the_worker_applies_retention_on_its_first_run(kk: Kokemus,
                                                       workspace: ActiveWorkspace) -> None:
    store(kk, workspace, events("old", "old", datetime.now(UTC) - timedelta(days=400)))
    store(kk, workspace, events("new", "new", datetime.now(UTC) - timedelta(days=3)))
    with_retention(kk, workspace, events="365d")
    running = worker.Worker(kk, interval=0.05).start()
    try:
        for _ in range(200):
            if running.runs:
                break
            time.sleep(0.05)
    finally:
        running.stop()
    assert kk.events.count(workspace.id) == 2


def test_retention_periods_are_validated_and_exported(kk: Kokemus,
                                                      workspace: ActiveWorkspace) -> None:
    from kokemus.domain.errors import Invalid
    from kokemus.workspace import document

    with pytest.raises(ValueError, match="shorter than a day"):
        Retention(events="2h")
    ws = with_retention(kk, workspace, events="730d", comments="365d")
    text = document.dump(ws.document)
    assert "retention:\n  events: 730d\n  comments: 365d\n" in text
    bad = text.replace("comments: 365d", "comments: 3x")
    path = Path(kk.settings.data_dir) / "ws.yaml"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(Invalid, match=r"ws.yaml:\d+: retention.comments"):
        document.load(path)
