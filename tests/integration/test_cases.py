"""Cases over the real app store (SQLite, or PostgreSQL with KOKEMUS_TEST_DATABASE_URL) and
the real event store: opening once per action, the state machine, who may be given a case,
the history, the SLA escalation written once, the follow-up survey, and the recovery report
against counts planted by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from kokemus import bootstrap
from kokemus.domain import scores
from kokemus.domain.cases import MOVES, STATES, BadMove, CasePolicy, Slas
from kokemus.domain.errors import Invalid, NotFound
from kokemus.domain.roles import Role
from kokemus.services import access
from kokemus.services import cases as service
from kokemus.services import workspaces as workspace_service
from kokemus.services.cases import Actor, Filters
from kokemus.services.ingest import ingest_events
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import responses
from kokemus.storage.tables import case_events, cases, invitations
from kokemus.workspace import document
from tests.analytics.test_scores import table_of
from tests.conftest import STARTER

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANNA = Actor("user:anna")


def with_policy(kk: bootstrap.Kokemus, **policy: Any) -> ActiveWorkspace:
    doc = document.load(STARTER)
    workspace_service.apply(kk.db, doc.model_copy(update={"cases": CasePolicy(**policy)}))
    return workspace_service.get(kk.db, "my-company")


def open_one(kk: bootstrap.Kokemus, ws: ActiveWorkspace, action_id: str | None = "a1", *,
             customer: str | None = "c1", priority: str = "normal",
             sla_due_at: datetime | None = None, now: datetime = T0,
             department: str = "logistics") -> str:
    with kk.db.begin() as conn:
        return service.open_case(
            conn, ws.id, department=department,
            title={"fi": "Kone rikki", "en": "Machine broken"}, customer=customer,
            account=None, priority=priority, rule="damaged", cause="e-damaged-1",
            action_id=action_id, sla_due_at=sla_due_at, now=now)


def people(kk: bootstrap.Kokemus, ws: ActiveWorkspace) -> None:
    for name, role in (("olli", Role.OWNER), ("aino", Role.AGENT), ("pekka", Role.AGENT),
                       ("ana", Role.ANALYST)):
        access.create_user(kk.db, name, "salasana123")
        access.grant(kk.db, name, ws.slug, role)
    service.set_departments(kk.db, ws, "aino", ["logistics"])
    service.set_departments(kk.db, ws, "pekka", ["customer-service"])


def test_a_rules_case_is_opened_once_per_action_and_numbered(
        kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    first = open_one(kk, workspace, "a1")
    assert open_one(kk, workspace, "a1") == first  # delivered again: the same case
    second = open_one(kk, workspace, "a2")
    assert second != first
    # in the caller's transaction: rolled back with it, nothing is left
    with pytest.raises(RuntimeError), kk.db.begin() as conn:
        service.open_case(conn, workspace.id, department="logistics", title="x",
                          customer="c9", account=None, priority="high", rule="r",
                          cause=None, action_id="a3", sla_due_at=None, now=T0)
        raise RuntimeError("the worker failed after opening")
    with kk.db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cases)).scalar() == 2
        numbers = sorted(conn.execute(select(cases.c.number)).scalars())
    assert numbers == [1, 2]
    case = service.get(kk.db, workspace.id, 1)
    assert case.id == first and case.state == "new" and case.rule == "damaged"
    assert case.title_in("fi") == "Kone rikki" and case.title_in("en") == "Machine broken"
    # the starter has no `cases:` policy: the defaults, 2 days for a normal case
    assert case.sla_due_at == T0 + timedelta(days=2)
    [opened] = service.history(kk.db, case)
    assert (opened.kind, opened.actor, opened.state, opened.at) == ("opened", "rule:damaged",
                                                                     "new", T0)


def test_states_move_only_along_the_machine(kk: bootstrap.Kokemus,
                                            workspace: ActiveWorkspace) -> None:
    people(kk, workspace)
    open_one(kk, workspace)
    with pytest.raises(BadMove, match=r"state 'new' cannot move to 'resolved' "
                                      r"\(from new: assigned\)"):
        service.move(kk.db, workspace, 1, "resolved", actor=ANNA)
    with pytest.raises(BadMove, match="cannot move to 'done'"):
        service.move(kk.db, workspace, 1, "done", actor=ANNA)
    later = T0 + timedelta(hours=1)
    case = service.assign(kk.db, workspace, 1, "aino", actor=ANNA, now=later)
    assert (case.state, case.assignee) == ("assigned", "aino")
    for state in ("in_progress", "waiting", "in_progress", "resolved"):
        case = service.move(kk.db, workspace, 1, state, actor=Actor("user:aino"), now=later)
    assert case.resolved_at == later
    case = service.move(kk.db, workspace, 1, "in_progress", actor=ANNA,
                        note="Asiakas soitti: kone ei vieläkään toimi", now=later)
    assert case.state == "in_progress" and case.resolved_at is None  # reopened
    service.move(kk.db, workspace, 1, "resolved", actor=ANNA, now=later)
    case = service.move(kk.db, workspace, 1, "closed", actor=ANNA, now=later)
    assert case.closed_at == later
    with pytest.raises(BadMove, match="a closed case moves no more"):
        service.move(kk.db, workspace, 1, "in_progress", actor=ANNA)
    with pytest.raises(BadMove):
        service.assign(kk.db, workspace, 1, "olli", actor=ANNA)
    # a note is taken in any state, and everything is in the history with who and when
    service.add_note(kk.db, workspace, 1, "Hyvitys maksettu", actor=Actor("key:abcd"))
    kinds = [(e.kind, e.state or e.body or e.assignee, e.actor)
             for e in service.history(kk.db, case)]
    assert kinds == [
        ("opened", "new", "rule:damaged"), ("assigned", "aino", "user:anna"),
        ("state", "assigned", "user:anna"), ("state", "in_progress", "user:aino"),
        ("state", "waiting", "user:aino"), ("state", "in_progress", "user:aino"),
        ("state", "resolved", "user:aino"), ("state", "in_progress", "user:anna"),
        ("note", "Asiakas soitti: kone ei vieläkään toimi", "user:anna"),
        ("state", "resolved", "user:anna"), ("state", "closed", "user:anna"),
        ("note", "Hyvitys maksettu", "key:abcd")]
    # every state reaches closed along the moves, and closed is the only end
    assert [s for s in STATES if not MOVES[s]] == ["closed"]


def test_who_may_be_given_a_case(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    people(kk, workspace)
    open_one(kk, workspace)
    with pytest.raises(Invalid, match="'pekka' does not work for department 'logistics' "
                                      r"\(theirs: customer-service\)"):
        service.assign(kk.db, workspace, 1, "pekka", actor=ANNA)
    with pytest.raises(Invalid, match="an analyst does not work cases"):
        service.assign(kk.db, workspace, 1, "ana", actor=ANNA)
    with pytest.raises(Invalid, match="no user 'nobody'"):
        service.assign(kk.db, workspace, 1, "nobody", actor=ANNA)
    assert service.assignable(kk.db, workspace.id, "logistics") == ["aino", "olli"]
    assert service.get(kk.db, workspace.id, 1).state == "new"  # nothing half-written
    service.assign(kk.db, workspace, 1, "olli", actor=ANNA)
    case = service.assign(kk.db, workspace, 1, "aino", actor=ANNA)  # handed on
    assert (case.state, case.assignee) == ("assigned", "aino")
    with pytest.raises(Invalid, match="no department 'kitchen'"):
        service.set_departments(kk.db, workspace, "aino", ["kitchen"])


def test_an_agent_reaches_only_their_departments_cases(
        kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    people(kk, workspace)
    open_one(kk, workspace, "a1", department="logistics")
    open_one(kk, workspace, "a2", department="customer-service")
    ids = {name: access.authenticate(kk.db, name, "salasana123") for name in
           ("olli", "aino", "pekka", "ana")}
    seen = {}
    for name, user in ids.items():
        assert user is not None
        role = access.role_in(kk.db, int(str(user["id"])), workspace.slug)
        reach = service.reach_of(kk.db, int(str(user["id"])), workspace.id, role)
        listed, total = service.listing(kk.db, workspace.id, Filters(), reach=reach)
        seen[name] = ([c.department for c in listed], total)
        if not reach.everything:
            other = 2 if name == "aino" else 1
            with pytest.raises(NotFound):
                service.get(kk.db, workspace.id, other, reach=reach)
            with pytest.raises(NotFound):
                service.add_note(kk.db, workspace, other, "x", actor=ANNA, reach=reach)
    assert seen == {"olli": (["customer-service", "logistics"], 2),
                    "ana": (["customer-service", "logistics"], 2),
                    "aino": (["logistics"], 1), "pekka": (["customer-service"], 1)}
    # an agent of no department has an empty inbox
    service.set_departments(kk.db, workspace, "aino", [])
    user = access.authenticate(kk.db, "aino", "salasana123")
    assert user is not None
    reach = service.reach_of(kk.db, int(str(user["id"])), workspace.id, Role.AGENT)
    assert service.listing(kk.db, workspace.id, Filters(), reach=reach) == ([], 0)


def test_listing_filters_and_the_mirror_order(kk: bootstrap.Kokemus,
                                              workspace: ActiveWorkspace) -> None:
    people(kk, workspace)
    for i in range(3):
        open_one(kk, workspace, f"a{i}", customer=f"c{i}", now=T0 + timedelta(minutes=i))
    service.assign(kk.db, workspace, 1, "aino", actor=ANNA, now=T0 + timedelta(hours=1))
    olli = access.authenticate(kk.db, "aino", "salasana123")
    assert olli is not None
    mine, _ = service.listing(kk.db, workspace.id, Filters(assignee=int(str(olli["id"]))))
    assert [c.number for c in mine] == [1]
    listed, total = service.listing(kk.db, workspace.id, Filters(states=["new"]))
    assert ([c.number for c in listed], total) == ([3, 2], 2)
    changed, _ = service.listing(kk.db, workspace.id,
                                 Filters(updated_since=T0 + timedelta(minutes=1)))
    assert [c.number for c in changed] == [2, 3, 1]  # the least recently changed first
    assert service.counts(kk.db, workspace.id, user_id=int(str(olli["id"]))) == {
        "logistics": 3, "mine": 1}


def test_sla_escalation_is_marked_once(kk: bootstrap.Kokemus) -> None:
    ws = with_policy(kk, sla=Slas(normal="10h", urgent=None), at_risk=0.5)
    ingest_events([{"id": "e1", "type": "order_placed", "customer": "c1", "channel": "phone",
                    "occurred_at": (T0 - timedelta(days=1)).isoformat()}], ws, kk.events)
    open_one(kk, ws, "a1")  # normal: due in 10 h from the policy, at risk after 5 h
    open_one(kk, ws, "a2", customer=None, sla_due_at=T0 + timedelta(hours=2))  # the rule's
    open_one(kk, ws, "a3", priority="urgent")  # no SLA for urgent cases here
    assert service.get(kk.db, ws.id, 1).sla_due_at == T0 + timedelta(hours=10)
    assert service.get(kk.db, ws.id, 3).sla_due_at is None

    def run(hours: float) -> tuple[int, int, int]:
        done = service.escalate(kk.db, kk.events, T0 + timedelta(hours=hours))
        return done.at_risk, done.breached, done.events

    assert run(0.9) == (0, 0, 0)
    assert run(1) == (1, 0, 0)  # case 2 at risk; it has no customer, so no event
    assert run(1.5) == (0, 0, 0)
    assert run(5) == (1, 1, 1)  # case 1 at risk, case 2 breached
    assert run(5) == (0, 0, 0)
    assert run(30) == (0, 1, 1)  # case 1 breached
    assert run(31) == (0, 0, 0)
    with kk.db.connect() as conn:
        marks = conn.execute(select(cases.c.number, case_events.c.state, case_events.c.at)
                             .join(cases, cases.c.id == case_events.c.case_id)
                             .where(case_events.c.kind == "escalated")
                             .order_by(case_events.c.id)).all()
    assert [tuple(m) for m in marks] == [
        (2, "at_risk", T0 + timedelta(hours=1)), (1, "at_risk", T0 + timedelta(hours=5)),
        (2, "breached", T0 + timedelta(hours=5)), (1, "breached", T0 + timedelta(hours=30))]
    assert service.get(kk.db, ws.id, 1).escalated == "breached"
    case = service.get(kk.db, ws.id, 1)
    with kk.events.reading() as cur:
        events = cur.execute("SELECT id, type, customer, channel, occurred_at, "
                             "properties->>'number' FROM events WHERE type LIKE 'case_%' "
                             "ORDER BY seq").fetchall()
    # the breach is dated when the SLA ran out, not when the pass saw it
    assert events == [
        (f"case_at_risk:{case.id}", "case_at_risk", "c1", "phone", T0 + timedelta(hours=5),
         "1"),
        (f"case_breached:{case.id}", "case_breached", "c1", "phone",
         T0 + timedelta(hours=10), "1")]
    # a resolved case is off the clock
    open_one(kk, ws, "a4", sla_due_at=T0 + timedelta(hours=40))
    people(kk, ws)
    service.assign(kk.db, ws, 4, "aino", actor=ANNA)
    service.move(kk.db, ws, 4, "in_progress", actor=ANNA)
    service.move(kk.db, ws, 4, "resolved", actor=ANNA)
    assert run(50) == (0, 0, 0)


def test_resolving_plans_the_follow_up_survey_once(kk: bootstrap.Kokemus) -> None:
    ws = with_policy(kk, follow_up="after-delivery", follow_up_delay="2h")
    people(kk, ws)
    open_one(kk, ws, "a1")
    open_one(kk, ws, "a2", customer=None)
    for number in (1, 2):
        service.assign(kk.db, ws, number, "aino", actor=ANNA, now=T0)
        service.move(kk.db, ws, number, "in_progress", actor=ANNA, now=T0)
        service.move(kk.db, ws, number, "resolved", actor=ANNA, now=T0)
    service.move(kk.db, ws, 1, "in_progress", actor=ANNA, now=T0)  # reopened, resolved again
    service.move(kk.db, ws, 1, "resolved", actor=ANNA, now=T0 + timedelta(days=1))
    case = service.get(kk.db, ws.id, 1)
    with kk.db.connect() as conn:
        rows = conn.execute(select(invitations.c.survey, invitations.c.customer,
                                   invitations.c.event_id, invitations.c.status,
                                   invitations.c.due_at, invitations.c.channel)).all()
    assert [tuple(r) for r in rows] == [("after-delivery", "c1", f"case:{case.id}", "planned",
                                         T0 + timedelta(hours=2), "email")]
    assert [e.body for e in service.history(kk.db, case) if e.kind == "followup"] == [
        "after-delivery"]


def test_a_follow_up_survey_must_exist() -> None:
    doc = document.load(STARTER).model_copy(update={"cases": CasePolicy(follow_up="nope")})
    problems = [(p.path, p.message) for p in doc.problems()]
    assert ("cases.follow_up", "unknown survey 'nope' (known: after-delivery)") in problems


def test_a_person_opens_a_case(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    case = service.open_by_person(kk.db, workspace, department="customer-service",
                                  title="Soittopyyntö", customer="c7", priority="high",
                                  actor=ANNA, now=T0)
    assert (case.number, case.state, case.sla_due_at, case.rule) == (
        1, "new", T0 + timedelta(days=1), None)
    assert service.history(kk.db, case)[0].actor == "user:anna"
    for bad, message in ((dict(department="kitchen"), "no department 'kitchen'"),
                         (dict(title="  "), "title"), (dict(priority="asap"), "priority"),
                         (dict(sla="soon"), "sla: 'soon' is not a duration")):
        given: dict[str, Any] = {"department": "sales", "title": "x", **bad}
        with pytest.raises(Invalid, match=message):
            service.open_by_person(kk.db, workspace, actor=ANNA, **given)
    with pytest.raises(Invalid, match="you do not work for 'sales'"):
        service.open_by_person(kk.db, workspace, department="sales", title="x", actor=ANNA,
                               reach=service.Reach(False, frozenset({"logistics"})))


def test_newcombe_interval_of_a_difference() -> None:
    # Newcombe (1998), table II, example (a): 56/70 against 48/80, method 10
    found = scores.difference(56, 70, 48, 80)
    assert found is not None
    d, low, high = found
    assert round(d, 4) == 0.2 and round(low, 4) == 0.0524 and round(high, 4) == 0.3339
    assert scores.difference(1, 0, 1, 2) is None


def answer(i: int, customer: str, nps: int, day: float) -> dict[str, Any]:
    return {"id": f"r{i}", "customer": customer, "nps": nps,
            "started_at": T0 + timedelta(days=day)}


def test_recovery_report_counts_what_was_planted(kk: bootstrap.Kokemus,
                                                 workspace: ActiveWorkspace) -> None:
    rows: list[dict[str, Any]] = []
    i = 0

    def plant(prefix: str, n: int, then: int | None, *, case_day: float | None) -> None:
        nonlocal i
        for k in range(n):
            customer = f"{prefix}{k}"
            rows.append(answer(i := i + 1, customer, 3, 1))  # the detractor answer
            if then is not None:
                rows.append(answer(i := i + 1, customer, then, 20))
            if case_day is not None:
                open_one(kk, workspace, f"{customer}-case", customer=customer,
                         now=T0 + timedelta(days=case_day))

    plant("cr", 12, 9, case_day=2)  # a case, then a promoter: recovered
    plant("cp", 3, 7, case_day=2)  # a case, then a passive: recovered
    plant("cd", 5, 2, case_day=2)  # a case, still a detractor
    plant("cs", 4, None, case_day=2)  # a case, never answered again
    plant("nr", 4, 8, case_day=None)  # no case, recovered
    plant("nd", 16, 5, case_day=None)  # no case, still a detractor
    plant("late", 2, 10, case_day=25)  # the case came after the second answer: no case
    plant("old", 3, 10, case_day=40)  # ... and this one after the 30-day window too
    rows.append(answer(i := i + 1, "cr0", 1, -1))  # a detractor answer before the period
    rows.append(answer(i := i + 1, "p1", 10, 1))  # a promoter: not in the report
    responses.insert_many(kk.events, table_of(rows, workspace_id=workspace.id))

    found = service.recovery(kk.db, kk.events, workspace, since=T0, until=T0 + timedelta(5),
                             as_of=T0 + timedelta(days=60))
    a, b = found.with_case, found.without_case
    assert (a.detractors, a.answered.n, a.recovered.n) == (24, 24, 20)
    assert a.answered.value == pytest.approx(100 * 20 / 24)
    assert a.recovered.value == pytest.approx(100 * 15 / 20)
    assert (a.recovered.low, a.recovered.high) == pytest.approx(
        tuple(100 * x for x in scores.wilson(15, 20)))
    assert (b.detractors, b.recovered.n) == (25, 25)
    assert b.recovered.value == pytest.approx(100 * 9 / 25)
    expected = scores.difference(15, 20, 9, 25)
    assert expected is not None
    assert (found.difference, found.low, found.high) == pytest.approx(
        tuple(100 * x for x in expected))
    assert found.low is not None and found.low > 0  # planted: 75 % against 36 %
    assert not found.enough  # under the starter's 30 answers a group
    # over all time, cr0's first detractor answer is the one of day -1, and their next one
    # (day 1, a 3) came before their case: not recovered, and no case
    found = service.recovery(kk.db, kk.events, workspace, until=T0 + timedelta(5),
                             as_of=T0 + timedelta(days=60))
    a, b = found.with_case, found.without_case
    assert (a.detractors, a.recovered.n, b.detractors, b.recovered.n) == (23, 19, 26, 26)
    assert (a.recovered.value, b.recovered.value) == pytest.approx((100 * 14 / 19,
                                                                    100 * 9 / 26))
    # as of day 10 nobody has answered again yet
    early = service.recovery(kk.db, kk.events, workspace, since=T0, until=T0 + timedelta(5),
                             as_of=T0 + timedelta(days=10))
    assert early.with_case.answered.n == 24 and early.with_case.recovered.n == 0
    assert early.difference is None


def test_cases_opened_at_once_get_distinct_numbers_and_one_per_action(
        kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def worker(k: int) -> list[str]:
        # two workers deliver every action (as if both had claimed it), each in turn
        return [open_one(kk, workspace, f"a{i}", customer=f"c{i}") for i in range(k % 2, 24, 1)]

    with ThreadPoolExecutor(4) as pool:
        opened = list(pool.map(worker, range(4)))
    with kk.db.connect() as conn:
        rows = conn.execute(select(cases.c.action_id, cases.c.number, cases.c.id)).all()
        opened_events = conn.execute(select(func.count()).select_from(case_events)).scalar()
    assert len(rows) == 24 and opened_events == 24
    assert sorted(r.number for r in rows) == list(range(1, 25))
    by_action = {r.action_id: r.id for r in rows}
    for ids in opened:
        for case_id in ids:
            assert case_id in by_action.values()


def test_the_worked_example_in_the_docs_is_what_the_method_gives() -> None:
    from pathlib import Path

    text = " ".join((Path(__file__).parents[2] / "docs" / "cases.md").read_text().split())
    found = re.search(r"(\d+) of (\d+) detractors with a case answered again and (\d+) "
                      r"recovered \(([\d.]+)%, Wilson ([\d.]+)–([\d.]+)\); (\d+) of (\d+) "
                      r"without one answered again and (\d+) recovered \(([\d.]+)%, "
                      r"([\d.]+)–([\d.]+)\); the difference is \+([\d.]+) points, 95% "
                      r"interval \+([\d.]+) to \+([\d.]+)", text)
    assert found, "the worked example in docs/cases.md changed form"
    g = [float(x) for x in found.groups()]
    a_answered, _, a_recovered, b_answered, _, b_recovered = (
        int(g[0]), g[1], int(g[2]), int(g[6]), g[7], int(g[8]))
    assert (round(100 * a_recovered / a_answered, 1), *(
        round(100 * x, 1) for x in scores.wilson(a_recovered, a_answered))) == tuple(g[3:6])
    assert (round(100 * b_recovered / b_answered, 1), *(
        round(100 * x, 1) for x in scores.wilson(b_recovered, b_answered))) == tuple(g[9:12])
    diff = scores.difference(a_recovered, a_answered, b_recovered, b_answered)
    assert diff is not None and tuple(round(100 * x, 1) for x in diff) == tuple(g[12:15])


def test_a_rule_acts_on_a_breached_case(kk: bootstrap.Kokemus) -> None:
    from kokemus.domain.rules import Rule
    from kokemus.engine import rules
    from kokemus.storage.tables import actions

    overdue = Rule.model_validate({
        "id": "case-overdue", "name": "Tapaus myöhässä",
        "when": {"on": "event", "event": "case_breached",
                 "where": {"priority": {"in": ["high", "urgent"]}}},
        "actions": [{"do": "case", "department": "customer-service",
                     "title": "Myöhästynyt tapaus", "priority": "urgent"}]})
    doc = document.load(STARTER)
    workspace_service.apply(kk.db, doc.model_copy(update={"rules": [overdue]}))
    ws = workspace_service.get(kk.db, "my-company")
    now = datetime.now(UTC)
    open_one(kk, ws, "a1", priority="high", sla_due_at=now - timedelta(minutes=5),
             now=now - timedelta(hours=2))
    open_one(kk, ws, "a2", customer="c2", priority="low", sla_due_at=now - timedelta(minutes=5),
             now=now - timedelta(hours=2))
    assert service.escalate(kk.db, kk.events, now).breached == 2
    rules.run(kk, now)
    rules.run(kk, now)  # again: nothing twice
    case = service.get(kk.db, ws.id, 1)
    with kk.db.connect() as conn:
        fired = conn.execute(select(actions.c.rule, actions.c.kind, actions.c.cause,
                                    actions.c.customer)).all()
    assert [tuple(f) for f in fired] == [("case-overdue", "case", f"case_breached:{case.id}",
                                          "c1")]


def test_a_customers_cases_are_in_their_export_and_go_with_their_erasure(
        kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    from kokemus.services import privacy

    people(kk, workspace)
    open_one(kk, workspace, "a1", customer="c1")
    open_one(kk, workspace, "a2", customer="c2")
    service.add_note(kk.db, workspace, 1, "Asiakkaan ovikoodi 1234", actor=ANNA)
    exported = privacy.export_customer(kk, workspace, "c1", actor="test")
    [case] = exported["cases"]
    assert case["number"] == 1 and [h["body"] for h in case["history"]] == [
        None, "Asiakkaan ovikoodi 1234"]
    done = privacy.erase_customer(kk, workspace, "c1", actor="test")
    assert done.cases == 1
    with kk.db.connect() as conn:
        left = conn.execute(select(cases.c.customer)).scalars().all()
        notes = conn.execute(select(case_events.c.body)).scalars().all()
    assert left == ["c2"] and "Asiakkaan ovikoodi 1234" not in notes
