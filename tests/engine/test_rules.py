"""The rule engine over real stores (DuckDB events and responses; the app store on SQLite,
or on PostgreSQL with KOKEMUS_TEST_DATABASE_URL): known answers for each trigger and
operator, exactly-once writes to the actions outbox, cursors that only move forward."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest
from sqlalchemy import delete, select, update

from kokemus.bootstrap import Kokemus
from kokemus.domain.events import Customer
from kokemus.domain.privacy import ConsentStatement
from kokemus.domain.rules import held_out
from kokemus.engine import rules as engine
from kokemus.services import consents, ingest
from kokemus.services import workspaces as workspace_service
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people, responses
from kokemus.storage.tables import actions, rule_cursors
from kokemus.workspace import document
from kokemus.workspace.document import WorkspaceFileError
from tests.conftest import STARTER

NOW = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)  # 12:00 in Helsinki

# continues the starter's survey list (its last key), then the insights
OTHER_SURVEY = """  - id: other
    name: Other
    questions:
      - {id: recommend, type: nps}
"""
THEMES = """
insights:
  themes:
    - id: delivery
      name: {fi: Toimitus, en: Delivery}
      lemmas: {fi: [toimitus, kuljetus], en: [delivery]}
"""


def with_rules(kk: Kokemus, tmp_path: Path, rules: str, extra: str = "") -> ActiveWorkspace:
    """The starter workspace with `rules` (the YAML list under `rules:`) applied."""
    path = tmp_path / "workspace.yaml"
    path.write_text(STARTER.read_text(encoding="utf-8") + extra + "rules:\n" + rules,
                    encoding="utf-8")
    workspace_service.apply(kk.db, document.load(path))
    return workspace_service.get(kk.db, "my-company")


def event(ident: str, customer: str = "c1", *, type: str = "delivered", at: datetime = NOW,
          **properties: Any) -> dict[str, Any]:
    return {"id": ident, "type": type, "customer": customer, "channel": "web",
            "occurred_at": at.isoformat(), "properties": properties}


def ingest_events(kk: Kokemus, ws: ActiveWorkspace, *events: dict[str, Any]) -> None:
    outcome = ingest.ingest_events(list(events), ws, kk.events)
    assert not outcome.rejected, outcome.rejected


def outbox(kk: Kokemus) -> list[dict[str, Any]]:
    with kk.db.connect() as conn:
        rows = conn.execute(select(actions).order_by(actions.c.key)).mappings().all()
    return [{**r, "payload": orjson.loads(r["payload"])} for r in rows]


def fired(kk: Kokemus) -> dict[str, set[str]]:
    """Per rule, the causes it fired for (its first action's rows)."""
    found: dict[str, set[str]] = defaultdict(set)
    for row in outbox(kk):
        if row["action"] == 0:
            found[row["rule"]].add(row["cause"])
    return dict(found)


def cursor(kk: Kokemus, ws: ActiveWorkspace, stream: str) -> int:
    return engine.position(kk.db, ws.id, stream)


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rule(ident: str, when: str, do: str = "- {do: case, department: logistics, title: T}"
         ) -> str:
    return (f"  - id: {ident}\n    name: {ident}\n    when: {when}\n    actions:\n"
            + "".join(f"      {line}\n" for line in do.splitlines()))


# ------------------------------------------------------------------ conditions on events


OPERATORS = {
    "eq-text": "{carrier: Kiito}",
    "eq-number": "{weight: 80}",
    "eq-bool": "{damaged: true}",
    "eq-compare": "{carrier: {eq: Kiito}}",
    "ne": "{carrier: {ne: Kiito}}",
    "lt": "{weight: {lt: 80}}",
    "lte": "{weight: {lte: 80}}",
    "gt": "{weight: {gt: 80}}",
    "gte": "{weight: {gte: 80}}",
    "range": "{weight: {gt: 10, lte: 80}}",
    "in": "{carrier: {in: [Kiito, Rahtisiili]}}",
    "in-mixed": "{code: {in: [1, '2', true]}}",
    "not-in": "{carrier: {not_in: [Kiito, Rahtisiili]}}",
    "exists": "{carrier: {exists: true}}",
    "missing": "{carrier: {exists: false}}",
    "two": "{carrier: Kiito, damaged: true}",
    "float": "{weight: 80.5}",
}
EVENTS = [
    event("e-kiito", carrier="Kiito", weight=80, damaged=True, code=1),
    event("e-rahti", carrier="Rahtisiili", weight=80.5, damaged=False, code="2"),
    event("e-posti", carrier="Posti", weight=5, damaged="true", code=True),
    event("e-none"),
    event("e-null", carrier=None, weight="80", code="1"),
    event("e-other-type", type="order_placed", carrier="Kiito", weight=80, damaged=True),
]
EXPECTED = {
    "eq-text": {"e-kiito"},
    "eq-number": {"e-kiito"},  # not the string "80"
    "eq-bool": {"e-kiito"},  # not the string "true"
    "eq-compare": {"e-kiito"},
    "ne": {"e-rahti", "e-posti", "e-none", "e-null"},  # a missing or null one is not Kiito
    "lt": {"e-posti"},
    "lte": {"e-kiito", "e-posti"},
    "gt": {"e-rahti"},
    "gte": {"e-kiito", "e-rahti"},
    "range": {"e-kiito"},
    "in": {"e-kiito", "e-rahti"},
    "in-mixed": {"e-kiito", "e-rahti", "e-posti"},  # 1, "2", true each of its own type
    "not-in": {"e-posti", "e-none", "e-null"},
    "exists": {"e-kiito", "e-rahti", "e-posti"},  # null is not there
    "missing": {"e-none", "e-null"},
    "two": {"e-kiito"},
    "float": {"e-rahti"},
}


def test_each_operator_matches_the_events_it_names(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, "".join(
        rule(name, f"{{on: event, event: delivered, where: {where}}}")
        for name, where in OPERATORS.items()))
    ingest_events(kk, ws, *EVENTS)
    done = engine.run(kk, NOW)
    found = fired(kk)
    assert {name: found.get(name, set()) for name in OPERATORS} == EXPECTED
    assert done.events == len(EVENTS)
    assert done.fired == done.planned == sum(len(v) for v in EXPECTED.values())
    assert cursor(kk, ws, engine.EVENTS) > 0


def test_a_disabled_rule_fires_nothing(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule("paused", "{on: event, event: delivered}")
                    + "    enabled: false\n")
    ingest_events(kk, ws, event("e1"))
    assert engine.run(kk, NOW).fired == 0
    assert outbox(kk) == []


def test_the_outbox_row_holds_what_delivery_needs(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule(
        "damaged", "{on: event, event: delivered, where: {damaged: true}}",
        "- {do: email, subject: {fi: Pahoittelut, en: Sorry}, body: 'Hei {{ name }}', "
        "delay: 1h}\n"
        "- {do: case, department: logistics, title: {fi: Vaurio, en: Damage}, "
        "priority: high}"))
    ingest_events(kk, ws, event("e1", "c7", damaged=True, carrier="Kiito",
                                at=NOW - timedelta(hours=3)))
    engine.run(kk, NOW)
    email, case = outbox(kk)
    assert (email["key"], email["kind"], email["action"], email["customer"], email["cause"],
            email["status"], email["attempts"]) == (
        "damaged:0:e1", "email", 0, "c7", "e1", "planned", 0)
    assert case["key"] == "damaged:1:e1" and case["kind"] == "case"
    # due at the cause's time plus the delay, never before now
    assert utc(email["due_at"]) == NOW  # 3 h ago + 1 h is past: due now
    assert utc(case["due_at"]) == NOW
    payload = email["payload"]
    assert payload["rule"] == "damaged" and payload["action"] == 0
    assert payload["do"] == "email" and payload["customer"] == "c7"
    assert payload["cause"] == {
        "id": "e1", "type": "delivered", "occurred_at": (NOW - timedelta(hours=3)).isoformat(),
        "channel": "web", "touchpoint": "delivery",
        "properties": {"damaged": True, "carrier": "Kiito"}}
    assert payload["params"] == {"do": "email", "subject": {"fi": "Pahoittelut", "en": "Sorry"},
                                 "body": "Hei {{ name }}", "delay": "1h"}
    assert case["payload"]["params"]["priority"] == "high"


def test_a_delay_in_the_future_is_kept(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule(
        "later", "{on: event, event: delivered}", "- {do: survey, survey: after-delivery, "
        "delay: 2h}"))
    ingest_events(kk, ws, event("e1", at=NOW - timedelta(minutes=30)))
    engine.run(kk, NOW)
    [row] = outbox(kk)
    assert utc(row["due_at"]) == NOW + timedelta(minutes=90)


def test_events_older_than_the_lookback_do_not_fire(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule("any", "{on: event, event: delivered}"))
    ingest_events(kk, ws, event("old", at=NOW - timedelta(days=8)),
                  event("recent", at=NOW - timedelta(days=6)))
    done = engine.run(kk, NOW)
    assert (done.matched, done.stale, done.fired) == (2, 1, 1)
    assert fired(kk) == {"any": {"recent"}}


# -------------------------------------------------------- segments, roles and consent


def test_segments_roles_and_consent_are_checked_against_the_app_store(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, "".join([
        rule("households", "{on: event, event: delivered, segments: [households]}"),
        rule("deciders", "{on: event, event: delivered, roles: [decider]}"),
        rule("both", "{on: event, event: delivered, segments: [households], "
                     "roles: [decider]}"),
        rule("marketing", "{on: event, event: delivered, consent: marketing}"),
        rule("surveys", "{on: event, event: delivered, consent: surveys}"),
    ]))
    people.upsert_customers(kk.db, ws.id, [
        Customer(id="home", segments=["households"]),
        Customer(id="boss", role="decider", account="a1"),
        Customer(id="home-boss", segments=["households"], role="decider"),
        Customer(id="user", role="user", account="a1"),
    ], NOW)
    for who, purpose, granted in [("home", "marketing", True), ("boss", "marketing", True),
                                  ("boss", "marketing", False), ("user", "surveys", False)]:
        consents.record(kk.db, ws, who, ConsentStatement(purpose=purpose, granted=granted),
                        source="test", actor="test", now=NOW)
    ingest_events(kk, ws, *(event(f"e-{who}", who) for who in
                            ("home", "boss", "home-boss", "user", "stranger")))
    done = engine.run(kk, NOW)
    assert fired(kk) == {
        "households": {"e-home", "e-home-boss"},
        "deciders": {"e-boss", "e-home-boss"},
        "both": {"e-home-boss"},
        # marketing is off by default; boss withdrew it (the newest statement counts)
        "marketing": {"e-home"},
        # surveys are on by default; user withdrew
        "surveys": {"e-home", "e-boss", "e-home-boss", "e-stranger"},
    }
    assert done.matched == 25 and done.not_targeted == 25 - 10


def test_a_holdout_leaves_out_the_same_customers_in_a_run_and_a_replay(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    """A control group: a third of the customers (by the rule and customer ids alone) get
    nothing; the engine and the replay leave out the same ones, and another rule its own."""
    held = ("  - id: callback\n    name: callback\n    holdout: 0.3\n"
            "    when: {on: event, event: delivered}\n"
            "    actions:\n      - {do: case, department: logistics, title: T}\n")
    ws = with_rules(kk, tmp_path, held + rule("everyone", "{on: event, event: delivered}"))
    who = [f"c{i:03d}" for i in range(300)]
    ingest_events(kk, ws, *(event(f"e-{c}", c) for c in who))
    done = engine.run(kk, NOW)
    left_out = {c for c in who if held_out("callback", c, 0.3)}
    assert 60 < len(left_out) < 120  # about 90: a third, drawn independently of anything
    found = fired(kk)
    assert found["callback"] == {f"e-{c}" for c in who if c not in left_out}
    assert found["everyone"] == {f"e-{c}" for c in who}
    assert (done.matched, done.not_targeted) == (600, len(left_out))
    callback = next(r for r in ws.document.rules if r.id == "callback")
    replayed = engine.replay(kk, ws, callback, NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert {f.cause.customer for f in replayed.fired} == set(who) - left_out
    assert replayed.not_targeted == len(left_out)
    # another rule's holdout of the same share is another third
    assert {c for c in who if held_out("other", c, 0.3)} != left_out


def test_a_holdout_above_half_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "workspace.yaml"
    path.write_text(STARTER.read_text(encoding="utf-8") + "rules:\n  - id: callback\n"
                    "    name: callback\n    holdout: 0.8\n"
                    "    when: {on: event, event: delivered}\n"
                    "    actions:\n      - {do: case, department: logistics, title: T}\n",
                    encoding="utf-8")
    with pytest.raises(WorkspaceFileError, match=r"holdout"):
        document.load(path)


# ------------------------------------------------------------------------ promise marks


def mark(ws: ActiveWorkspace, kind: str, promise: str, commitment: str, occurrence: str,
         customer: str, at: datetime = NOW) -> tuple[Any, ...]:
    return (ws.id, f"{kind}:{promise}:{commitment}:{occurrence}", kind, customer, None, "web",
            None, at, orjson.dumps({"promise": promise, "commitment": commitment,
                                    "occurrence": occurrence, "limit_s": 172800,
                                    "used_s": 150000}).decode())


def test_promise_rules_read_the_clocks_marks(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, "".join([
        rule("breached", "{on: promise, state: breached}"),
        rule("breached-48h", "{on: promise, state: breached, "
                             "commitments: [fast-delivery.delivered-48h]}"),
        rule("at-risk", "{on: promise, state: at_risk}"),
    ]))
    long_occurrence = "o" * 190  # the mark's id is longer than the outbox's cause column
    kk.events.append([
        mark(ws, "promise_breached", "fast-delivery", "delivered-48h", "o1", "c1"),
        mark(ws, "promise_breached", "fast-delivery", "other", "o2", "c2"),
        mark(ws, "promise_at_risk", "fast-delivery", "delivered-48h", "o3", "c3"),
        mark(ws, "promise_breached", "fast-delivery", "delivered-48h", long_occurrence, "c4"),
    ])
    engine.run(kk, NOW)
    found = fired(kk)
    long_key = engine.Cause(f"promise_breached:fast-delivery:delivered-48h:{long_occurrence}",
                            "promise_breached", NOW).key
    assert long_key.startswith("sha256:") and len(long_key) <= engine.MAX_CAUSE
    assert found == {
        "breached": {"promise_breached:fast-delivery:delivered-48h:o1",
                     "promise_breached:fast-delivery:other:o2", long_key},
        "breached-48h": {"promise_breached:fast-delivery:delivered-48h:o1", long_key},
        "at-risk": {"promise_at_risk:fast-delivery:delivered-48h:o3"},
    }
    by_cause = {r["cause"]: r for r in outbox(kk) if r["rule"] == "breached-48h"}
    cause = by_cause["promise_breached:fast-delivery:delivered-48h:o1"]["payload"]["cause"]
    assert cause["properties"]["promise"] == "fast-delivery"
    assert by_cause[long_key]["payload"]["cause"]["id"].endswith(long_occurrence)
    assert by_cause[long_key]["customer"] == "c4"


# ---------------------------------------------------------------------------- answers


def answer(ws: ActiveWorkspace, ident: str, *, customer: str | None = "c1",
           survey: str = "after-delivery", nps: int | None = None, ces: int | None = None,
           csat: int | None = None, comment: str | None = None, language: str = "fi",
           complete: bool = True, at: datetime = NOW, revision: int = 1,
           touchpoint: str = "delivery", segments: list[str] | None = None) -> dict[str, Any]:
    return {"workspace_id": ws.id, "id": ident, "survey": survey, "invitation": None,
            "customer": customer, "account": None, "role": None, "segments": segments or [],
            "touchpoint": touchpoint, "channel": "email", "source": "link",
            "language": language, "event_id": None, "answers": "{}", "nps": nps, "ces": ces,
            "csat": csat, "comment": comment, "complete": complete, "started_at": at,
            "updated_at": at, "revision": revision}


def save_answers(kk: Kokemus, *rows: dict[str, Any]) -> None:
    responses.insert_many(kk.events, pa.Table.from_pylist(list(rows), responses.SCHEMA))


def test_answer_rules_bounds_survey_and_theme(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, "".join([
        rule("detractor", "{on: answer, nps: {lte: 6}}"),
        rule("hard", "{on: answer, survey: after-delivery, ces: {lte: 3}}"),
        rule("unhappy", "{on: answer, csat: {in: [1, 2]}}"),
        rule("delivery-talk", "{on: answer, theme: delivery}"),
        rule("angry-delivery", "{on: answer, nps: {lte: 6}, theme: delivery}"),
        rule("other-survey", "{on: answer, survey: other}"),
        rule("any-complete", "{on: answer}"),
    ]), OTHER_SURVEY + THEMES)
    save_answers(kk,
                 answer(ws, "r-det", nps=3, ces=2, comment="Toimituksessa kesti viikko"),
                 answer(ws, "r-passive", nps=7, ces=4, csat=2, comment="ok"),
                 answer(ws, "r-promoter", nps=10, ces=7, csat=5, language="en",
                        comment="Fast delivery!"),
                 answer(ws, "r-six", nps=6, ces=3, complete=False,
                        comment="Paketti tuli rikki, kuljettaja oli töykeä"),
                 answer(ws, "r-blank", complete=False))
    done = engine.run(kk, NOW + timedelta(minutes=1))
    assert fired(kk) == {
        "detractor": {"r-det", "r-six"},
        "hard": {"r-det", "r-six"},
        "unhappy": {"r-passive"},
        # lemmas: "toimituksessa" -> toimitus; "kuljettaja" (driver) is not kuljetus
        "delivery-talk": {"r-det", "r-promoter"},
        "angry-delivery": {"r-det"},
        "any-complete": {"r-det", "r-passive", "r-promoter"},
    }
    assert done.answers == 5
    row = next(r for r in outbox(kk) if r["rule"] == "detractor" and r["cause"] == "r-det")
    assert row["customer"] == "c1"
    cause = row["payload"]["cause"]
    assert (cause["type"], cause["touchpoint"], cause["channel"]) == (
        "answer", "delivery", "email")
    assert cause["properties"]["nps"] == 3
    assert cause["properties"]["comment"] == "Toimituksessa kesti viikko"


def test_an_answer_fires_once_on_its_first_revision_that_holds(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule("detractor", "{on: answer, nps: {lte: 6}}")
                    + rule("done", "{on: answer}"))
    save_answers(kk, answer(ws, "r1", complete=False, at=NOW))  # nothing answered yet
    engine.run(kk, NOW)
    assert fired(kk) == {}
    save_answers(kk, answer(ws, "r1", nps=2, complete=False, at=NOW + timedelta(minutes=1),
                            revision=2))
    engine.run(kk, NOW + timedelta(minutes=1))
    assert fired(kk) == {"detractor": {"r1"}}
    save_answers(kk, answer(ws, "r1", nps=1, comment="huono", at=NOW + timedelta(minutes=2),
                            revision=3))
    done = engine.run(kk, NOW + timedelta(minutes=2))
    assert fired(kk) == {"detractor": {"r1"}, "done": {"r1"}}
    assert done.again >= 1  # the detractor rule held again: nothing written twice
    assert len(outbox(kk)) == 2


def test_an_answer_drained_late_is_still_seen(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    """A response that reaches DuckDB after the cursor passed its updated_at (the journal's
    drain lags the save) is read in the next run's ANSWER_LAG."""
    ws = with_rules(kk, tmp_path, rule("detractor", "{on: answer, nps: {lte: 6}}"))
    save_answers(kk, answer(ws, "r-later", nps=9, at=NOW))
    engine.run(kk, NOW)
    assert cursor(kk, ws, engine.ANSWERS) == engine._to_us(NOW)
    save_answers(kk, answer(ws, "r-early", nps=2, at=NOW - timedelta(minutes=2)))
    engine.run(kk, NOW + timedelta(seconds=30))
    assert fired(kk) == {"detractor": {"r-early"}}
    assert cursor(kk, ws, engine.ANSWERS) == engine._to_us(NOW)


def test_answers_through_the_journal_fire(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    """The answers' real path: a submission saved in the response journal (app store),
    drained into DuckDB when the engine reads."""
    from kokemus.services import feedback

    ws = with_rules(kk, tmp_path, rule("detractor", "{on: answer, nps: {lte: 6}}"))
    now = datetime.now(UTC)
    saved = feedback.submit(kk, ws, feedback.survey_of(ws, "after-delivery"),
                            {"recommend": 4}, customer="c9", response_id="resp-1",
                            source="link", now=now, complete=True)
    assert saved["nps"] == 4
    engine.run(kk, now + timedelta(seconds=1))
    [row] = outbox(kk)
    assert (row["rule"], row["cause"], row["customer"]) == ("detractor", "resp-1", "c9")


# ------------------------------------------------------------------------ score crossing


def test_a_score_crossing_fires_once_per_crossing(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule(
        "nps-drop", "{on: score, score: nps, touchpoint: delivery, below: 0, window: 7d}"))
    min_n = ws.document.feedback.min_answers  # 30
    stream = engine.stream_name("score", "nps-drop")

    def answers(prefix: str, n: int, nps: int, at: datetime,
                touchpoint: str = "delivery") -> None:
        save_answers(kk, *(answer(ws, f"{prefix}-{i}", nps=nps, at=at, touchpoint=touchpoint)
                           for i in range(n)))

    answers("few", min_n - 1, 0, NOW - timedelta(days=1))  # too few to judge
    assert engine.run(kk, NOW).crossings == 0
    answers("elsewhere", 50, 0, NOW - timedelta(days=1), touchpoint="order")
    minute = timedelta(minutes=1)
    assert engine.run(kk, NOW + minute).crossings == 0  # other touchpoints do not count
    answers("more", 1, 0, NOW - timedelta(days=1))  # 30 detractors: NPS -100
    first = engine.run(kk, NOW + 2 * minute)
    assert first.crossings == 1 and fired(kk) == {"nps-drop": {"crossing-1"}}
    assert cursor(kk, ws, stream) == 1
    assert engine.run(kk, NOW + 3 * minute).crossings == 0  # still below: once
    answers("happy", 60, 10, NOW)  # 60 promoters, 30 detractors: NPS +33
    engine.run(kk, NOW + 3.5 * minute)  # judged at most once a minute
    assert cursor(kk, ws, stream) == 1
    assert engine.run(kk, NOW + 4 * minute).crossings == 0
    assert cursor(kk, ws, stream) == 2
    # a week later the promoters are out of the window and the detractors came back
    answers("again", 40, 2, NOW + timedelta(days=8))
    assert engine.run(kk, NOW + timedelta(days=8, minutes=1)).crossings == 1
    assert fired(kk) == {"nps-drop": {"crossing-1", "crossing-2"}}
    row = next(r for r in outbox(kk) if r["cause"] == "crossing-2")
    properties = row["payload"]["cause"]["properties"]
    assert (properties["score"], properties["value"], properties["n"]) == ("nps", -100.0, 40)
    assert row["customer"] is None


# ------------------------------------------------------------------------- schedules


def test_a_schedule_fires_its_newest_tick_once_in_helsinki_time(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule("weekday-9", "{on: schedule, cron: '0 9 * * 1-5'}"))
    stream = engine.stream_name("cron", "weekday-9")
    monday_6_utc = datetime(2026, 6, 1, 5, 0, tzinfo=UTC)  # 08:00 in Helsinki (+3)
    assert engine.run(kk, monday_6_utc).ticks == 0  # a new schedule starts now
    assert cursor(kk, ws, stream) == engine._minute(monday_6_utc)
    assert engine.run(kk, monday_6_utc + timedelta(minutes=59)).ticks == 0  # 08:59
    at_9 = engine.run(kk, monday_6_utc + timedelta(hours=1, seconds=20))  # 09:00:20
    assert at_9.ticks == 1
    assert fired(kk) == {"weekday-9": {"tick:2026-06-01T09:00"}}
    [row] = outbox(kk)
    assert utc(row["due_at"]) == monday_6_utc + timedelta(hours=1, seconds=20)
    assert row["payload"]["cause"]["occurred_at"] == "2026-06-01T06:00:00+00:00"
    assert engine.run(kk, monday_6_utc + timedelta(hours=1, minutes=1)).ticks == 0
    # the worker was away Tuesday and Wednesday mornings: only the newest tick fires
    thursday = datetime(2026, 6, 4, 6, 30, tzinfo=UTC)
    late = engine.run(kk, thursday)
    assert (late.ticks, late.passed_over) == (1, 0)  # looks back one day at most
    assert fired(kk)["weekday-9"] == {"tick:2026-06-01T09:00", "tick:2026-06-04T09:00"}


# ------------------------------------------------------------------ exactly once, cursors


def test_running_twice_or_after_a_lost_cursor_writes_nothing_twice(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule("any", "{on: event, event: delivered}",
                                       "- {do: case, department: logistics, title: T}\n"
                                       "- {do: survey, survey: after-delivery}"))
    ingest_events(kk, ws, event("e1"), event("e2"))
    first = engine.run(kk, NOW)
    assert (first.fired, first.planned, first.again) == (2, 4, 0)
    again = engine.run(kk, NOW)
    assert (again.events, again.planned) == (0, 0)
    with kk.db.begin() as conn:  # as if the cursor's commit had been lost
        conn.execute(delete(rule_cursors))
    lost = engine.run(kk, NOW)
    assert (lost.fired, lost.planned, lost.again) == (2, 0, 4)
    assert len(outbox(kk)) == 4
    ingest_events(kk, ws, event("e1"))  # a retried event is stored once, fires nothing
    assert engine.run(kk, NOW).planned == 0


def test_a_crash_between_matching_and_the_commit_writes_nothing(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = with_rules(kk, tmp_path, rule("any", "{on: event, event: delivered}"))
    ingest_events(kk, ws, event("e1"), event("e2"))

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("killed")

    with monkeypatch.context() as patched:  # the rows are inserted, then the cursor fails
        patched.setattr(engine, "_move", crash)
        with pytest.raises(RuntimeError):
            engine.run(kk, NOW)
    assert outbox(kk) == [] and cursor(kk, ws, engine.EVENTS) == 0
    done = engine.run(kk, NOW)
    assert (done.fired, done.planned) == (2, 2)
    assert fired(kk) == {"any": {"e1", "e2"}}


def test_a_cursor_never_moves_backwards(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, rule("any", "{on: event, event: delivered}"))
    ingest_events(kk, ws, event("e1"))
    engine.run(kk, NOW)
    at = cursor(kk, ws, engine.EVENTS)
    with kk.db.begin() as conn:  # a slower run that read less commits after this one
        engine._move(kk.db, conn, ws.id, engine.EVENTS, at - 1, NOW)
    assert cursor(kk, ws, engine.EVENTS) == at
    with kk.db.begin() as conn:  # a faster one's progress is kept
        conn.execute(update(rule_cursors).values(position=at + 100))
    ingest_events(kk, ws, event("e2"))  # stored below the cursor: this run does not see it
    engine.run(kk, NOW)
    assert cursor(kk, ws, engine.EVENTS) == at + 100


def test_a_long_backlog_goes_in_passes(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ws = with_rules(kk, tmp_path, rule("any", "{on: event, event: delivered}"))
    ingest_events(kk, ws, *(event(f"e{i}") for i in range(7)))
    monkeypatch.setattr(engine, "PASS_SEQ", 3)
    done = engine.run(kk, NOW)
    assert (done.events, done.fired) == (7, 7)
    assert len(fired(kk)["any"]) == 7


# ------------------------------------------------------------------------------ replays


def test_a_replay_lists_what_each_kind_of_trigger_would_have_fired_and_writes_nothing(
        kk: Kokemus, workspace: ActiveWorkspace, tmp_path: Path) -> None:
    ws = with_rules(kk, tmp_path, "".join([
        rule("damaged", "{on: event, event: delivered, where: {damaged: true}, "
                        "segments: [households]}"),
        rule("detractor", "{on: answer, nps: {lte: 6}}"),
        rule("nps-drop", "{on: score, score: nps, below: 0, window: 1d}"),
        rule("morning", "{on: schedule, cron: '0 8 * * *'}"),
    ]))
    people.upsert_customers(kk.db, ws.id, [Customer(id="home", segments=["households"])],
                            NOW)
    day = timedelta(days=1)
    ingest_events(kk, ws, event("d-old", "home", damaged=True, at=NOW - 40 * day),
                  event("d-1", "home", damaged=True, at=NOW - 10 * day),
                  event("d-2", "stranger", damaged=True, at=NOW - 5 * day),
                  event("d-3", "home", damaged=False, at=NOW - 2 * day))
    # 30 detractors a day from 5 to 3 days ago (NPS -100), then promoters (NPS +100)
    save_answers(kk, *(answer(ws, f"bad-{d}-{i}", nps=2, at=NOW - d * day + timedelta(
        minutes=i)) for d in (5, 4, 3) for i in range(30)))
    save_answers(kk, *(answer(ws, f"good-{d}-{i}", nps=10, at=NOW - d * day + timedelta(
        minutes=i)) for d in (2, 1) for i in range(30)))
    rules_by_id = {r.id: r for r in ws.document.rules}
    since, until = NOW - 30 * day, NOW

    damaged = engine.replay(kk, ws, rules_by_id["damaged"], since, until)
    assert [(f.cause.id, f.cause.customer) for f in damaged.fired] == [("d-1", "home")]
    assert (damaged.matched, damaged.not_targeted) == (2, 1)

    detractor = engine.replay(kk, ws, rules_by_id["detractor"], since, until)
    assert len(detractor.fired) == 90 and detractor.fired[0].cause.type == "answer"

    drop = engine.replay(kk, ws, rules_by_id["nps-drop"], since, until)
    # judged hourly over a day's window: below 0 from the first hour of bad answers (30 of
    # them reach min_n), back above once the promoters outnumber them, and nothing again
    assert [f.cause.id for f in drop.fired] == ["crossing-1"]
    first = drop.fired[0].cause
    assert first.occurred_at == NOW - 5 * day + timedelta(hours=1)
    assert (first.properties["value"], first.properties["n"]) == (-100.0, 30)

    morning = engine.replay(kk, ws, rules_by_id["morning"], NOW - 3 * day, NOW)
    # 08:00 in Helsinki is 05:00 UTC: not on 30 May (the period starts at 09:00 UTC)
    assert [f.cause.id for f in morning.fired] == [
        "tick:2026-05-31T08:00", "tick:2026-06-01T08:00", "tick:2026-06-02T08:00"]
    assert outbox(kk) == []
    with kk.db.connect() as conn:
        assert conn.execute(select(rule_cursors)).all() == []
