"""The demo's surveys: invitations by the workspaces' own rules, answers that carry the
planted effects, as docs/demo.md describes them."""

from __future__ import annotations

import itertools
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy import create_engine, select, text

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import appliance_shop, customers_choice, generate, machinery_dealer
from kokemus.domain import scores
from kokemus.domain.scores import Score
from kokemus.services import workspaces
from kokemus.storage.tables import customers, invitations, trigger_cursors

END = date(2026, 6, 30)
# The default size: about 90 responses from damaged deliveries to the surveys with scores,
# enough for intervals that do not touch (4,000 customers give about 18).
CUSTOMERS = 20_000
SLUGS = ("kodinkone", "konekauppa", "asiakkaan-valinta")
HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture(scope="module")
def kk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[bootstrap.Kokemus]:
    """One default-size demo for the module, on SQLite or the PostgreSQL test server."""
    folder: Path = tmp_path_factory.mktemp("demo-feedback")
    pg_url = os.environ.get("KOKEMUS_TEST_DATABASE_URL")
    url = None
    if pg_url:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
    try:
        with bootstrap.build(Settings(data_dir=folder, database_url=url,
                                      secret_key="test-secret")) as built:
            generate.run(built, customers=CUSTOMERS, end=END)
            yield built
    finally:
        if pg_url:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


@pytest.fixture(scope="module")
def ids(kk: bootstrap.Kokemus) -> dict[str, int]:
    return {slug: workspaces.get(kk.db, slug).id for slug in SLUGS}


def _rows(kk: bootstrap.Kokemus, sql: str, *params: object) -> list[tuple[Any, ...]]:
    with kk.events.reading() as cur:
        return cur.execute(sql, list(params)).fetchall()


def _invitations(kk: bootstrap.Kokemus, workspace_id: int) -> list[dict[str, Any]]:
    with kk.db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(invitations).where(invitations.c.workspace_id == workspace_id))]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _scores_by_damage(kk: bootstrap.Kokemus, ws: int) -> dict[bool, dict[str, Score]]:
    """NPS and CES of the appliance shop's responses, damaged deliveries against the rest,
    counted in DuckDB and scored by the domain's formulas."""
    out: dict[bool, dict[str, Score]] = {}
    for damaged, n, promoters, detractors, ces_n, ces_sum, ces_squares in _rows(kk, """
        WITH damaged AS (SELECT DISTINCT properties->>'order' AS "order" FROM events
                         WHERE workspace_id = ? AND type = 'delivery_damaged'),
             r AS (SELECT r.nps, r.ces,
                          coalesce(e.properties->>'order' IN (SELECT "order" FROM damaged),
                                   false) AS damaged
                   FROM responses r JOIN events e
                        ON e.workspace_id = r.workspace_id AND e.id = r.event_id
                   WHERE r.workspace_id = ?)
        SELECT damaged, count(nps), count(*) FILTER (WHERE nps >= 9),
               count(*) FILTER (WHERE nps <= 6), count(ces), sum(ces), sum(ces * ces)
        FROM r GROUP BY 1""", ws, ws):
        out[damaged] = {
            "nps": scores.nps(promoters, n - promoters - detractors, detractors, min_n=30),
            "ces": scores.ces(ces_n, float(ces_sum), float(ces_squares), min_n=30),
        }
    return out


def test_damaged_deliveries_score_lower_with_separate_intervals(
        kk: bootstrap.Kokemus, ids: dict[str, int]) -> None:
    by = _scores_by_damage(kk, ids["kodinkone"])
    damaged, rest = by[True], by[False]
    assert damaged["nps"].n >= 30 and rest["nps"].n >= 1000  # enough to show the scores
    for kind in ("nps", "ces"):
        low, high = damaged[kind], rest[kind]
        assert low.high is not None and high.low is not None
        assert low.high < high.low, (kind, low, high)  # the intervals do not overlap
    # Documented (20k, the latent model): NPS -62 vs +38, CES 2.36 vs 5.37.
    assert damaged["nps"].value is not None and damaged["nps"].value < -50
    assert rest["nps"].value is not None and 30 < rest["nps"].value < 55
    assert damaged["ces"].value is not None and damaged["ces"].value < 3.5
    assert rest["ces"].value is not None and 5.0 < rest["ces"].value < 5.8


def test_every_response_answers_one_invitation_of_its_customer(
        kk: bootstrap.Kokemus, ids: dict[str, int]) -> None:
    for slug, ws in ids.items():
        invited = {i["id"]: i for i in _invitations(kk, ws)}
        answered = _rows(kk, """
            SELECT id, invitation, customer, survey, event_id, touchpoint, updated_at
            FROM responses WHERE workspace_id = ?""", ws)
        assert answered, slug
        per_invitation = Counter(invitation for _, invitation, *_ in answered)
        assert max(per_invitation.values()) == 1  # at most one response per invitation
        for rid, invitation, customer, survey, event_id, touchpoint, updated in answered:
            inv = invited[invitation]
            assert rid == invitation
            assert (inv["customer"], inv["survey"], inv["event_id"], inv["touchpoint"]) == (
                customer, survey, event_id, touchpoint)
            assert inv["status"] == "answered"
            assert _utc(inv["answered_at"]) == updated
            assert _utc(inv["sent_at"]) <= updated < _utc(inv["expires_at"])
        # Whoever did not answer has no response, and every answered invitation has one.
        assert sum(i["status"] == "answered" for i in invited.values()) == len(answered)
        assert {i["status"] for i in invited.values()} == {"answered", "sent"}


def test_response_rates_are_plausible(kk: bootstrap.Kokemus, ids: dict[str, int]) -> None:
    for slug, ws in ids.items():
        invited = len(_invitations(kk, ws))
        answered = _rows(kk, "SELECT count(*) FROM responses WHERE workspace_id = ?", ws)[0][0]
        assert invited > 500, slug
        assert 0.20 <= answered / invited <= 0.40, (slug, answered, invited)


def test_invitations_follow_the_workspace_rules(kk: bootstrap.Kokemus,
                                                ids: dict[str, int]) -> None:
    for slug, ws in ids.items():
        document = workspaces.get(kk.db, slug).document
        policy = document.feedback
        quiet = policy.quiet_hours
        assert quiet is not None
        start, end = (int(quiet.start[:2]), int(quiet.end[:2]))
        rows = _invitations(kk, ws)
        events = dict(((e, (t, c)) for e, t, c in _rows(
            kk, "SELECT id, type, customer FROM events WHERE workspace_id = ?", ws)))
        for inv in rows:
            survey = document.survey(inv["survey"])
            assert survey is not None and survey.trigger is not None
            assert events[inv["event_id"]] == (survey.trigger.event, inv["customer"])
            due = _utc(inv["due_at"])
            assert due == _utc(inv["occurred_at"]) + timedelta(
                seconds=survey.trigger.delay_seconds)
            sent = _utc(inv["sent_at"])
            assert sent >= due
            hour = sent.astimezone(HELSINKI).hour
            assert end <= hour < start, inv  # never in the quiet hours
            assert _utc(inv["expires_at"]) == sent + timedelta(seconds=policy.link_seconds)
            assert _utc(inv["due_at"]) < datetime(END.year, END.month, END.day, tzinfo=UTC)
        # One invitation per customer per cap, across the workspace's surveys.
        by_customer: dict[str, list[datetime]] = {}
        for inv in rows:
            by_customer.setdefault(inv["customer"], []).append(_utc(inv["due_at"]))
        cap = timedelta(seconds=policy.cap_seconds)
        for times in by_customer.values():
            times.sort()
            assert all(b - a >= cap for a, b in itertools.pairwise(times))


def test_the_delivery_survey_waits_for_an_installation(kk: bootstrap.Kokemus,
                                                       ids: dict[str, int]) -> None:
    ws = ids["kodinkone"]
    kinds = dict(_rows(kk, """
        SELECT i.survey, list(DISTINCT e.properties->>'installation')
        FROM responses i JOIN events e ON e.workspace_id = i.workspace_id AND e.id = i.event_id
        WHERE i.workspace_id = ? GROUP BY 1""", ws))
    assert kinds == {"after-delivery": ["false"], "after-installation": [None],
                     "quality": [None], "quality-after-damage": [None]}


def test_damaged_deliveries_open_a_reliability_gap(kk: bootstrap.Kokemus,
                                                   ids: dict[str, int]) -> None:
    """The expectation/perception surveys (every damaged delivery is asked after the damage):
    expectations alike, perceived reliability far below them after a damaged delivery (the
    gaps model's gap 5)."""
    ws = ids["kodinkone"]
    gaps = {damaged: (n, expected, gap) for damaged, n, expected, gap in _rows(kk, """
        WITH damaged AS (SELECT DISTINCT properties->>'order' AS "order" FROM events
                         WHERE workspace_id = ? AND type = 'delivery_damaged'),
             q AS (SELECT coalesce(e.properties->>'order' IN (SELECT "order" FROM damaged),
                                   false) AS damaged,
                          (r.answers->'quality'->'reliability'->>'expected')::INT AS e,
                          (r.answers->'quality'->'reliability'->>'perceived')::INT AS p
                   FROM responses r JOIN events e
                        ON e.workspace_id = r.workspace_id AND e.id = r.event_id
                   WHERE r.workspace_id = ?
                         AND r.survey IN ('quality', 'quality-after-damage'))
        SELECT damaged, count(*), avg(e), avg(p - e) FROM q GROUP BY 1""", ws, ws)}
    assert gaps[True][0] >= 60 and gaps[False][0] >= 300
    # Documented: expected 6.24 vs 6.30; perceived 2.5 after a damage, 5.5 otherwise.
    assert abs(gaps[True][1] - gaps[False][1]) < 0.4
    assert gaps[True][2] < -3.0 < -1.0 < gaps[False][2] < 0.5


def test_answers_fit_their_survey(kk: bootstrap.Kokemus, ids: dict[str, int]) -> None:
    for slug, ws in ids.items():
        document = workspaces.get(kk.db, slug).document
        for survey_id, answers, nps, ces, csat, comment in _rows(kk, """
                SELECT survey, answers, nps, ces, csat, comment FROM responses
                WHERE workspace_id = ? AND complete""", ws):
            survey = document.survey(survey_id)
            assert survey is not None
            parsed = orjson.loads(answers)
            assert survey.check(parsed, complete=True) == parsed  # valid as it is
            assert survey.scores(parsed) == {"nps": nps, "ces": ces, "csat": csat}
            assert comment == next((v for k, v in parsed.items() if isinstance(v, str)), None)


def test_comments_speak_the_customers_language(kk: bootstrap.Kokemus,
                                               ids: dict[str, int]) -> None:
    pools = [appliance_shop.COMMENTS, appliance_shop.PRAISE, customers_choice.COMMENTS,
             machinery_dealer.COMMENTS]
    phrases = {lang: {p for pool in pools for by in pool.values() for p in by[lang]}
               for lang in ("fi", "en")}
    seen: Counter[str] = Counter()
    for ws in ids.values():
        with kk.db.connect() as conn:
            spoken = dict(conn.execute(select(customers.c.id, customers.c.language)
                                       .where(customers.c.workspace_id == ws)).all())
        for customer, language, comment in _rows(kk, """
                SELECT customer, language, comment FROM responses WHERE workspace_id = ?""", ws):
            # The workspaces speak Finnish and English; Swedish speakers are asked in Finnish.
            assert language == (spoken[customer] if spoken[customer] in ("fi", "en") else "fi")
            if comment is not None:
                assert comment in phrases[language], (language, comment)
                seen[language] += 1
    assert seen["fi"] > 200 and seen["en"] > 10


def test_feedback_events_say_what_the_responses_say(kk: bootstrap.Kokemus,
                                                    ids: dict[str, int]) -> None:
    for slug in ("kodinkone", "asiakkaan-valinta"):
        ws = ids[slug]
        events = _rows(kk, """
            SELECT customer, properties->>'survey', epoch(occurred_at),
                   (properties->>'nps')::INT, (properties->>'ces')::INT
            FROM events WHERE workspace_id = ? AND type = 'feedback_given'
            ORDER BY ALL""", ws)
        answered = _rows(kk, """
            SELECT customer, survey, epoch(updated_at), nps, ces FROM responses
            WHERE workspace_id = ? ORDER BY ALL""", ws)
        assert events == answered, slug
    assert _rows(kk, "SELECT count(*) FROM events WHERE workspace_id = ? "
                     "AND type = 'feedback_given'", ids["konekauppa"])[0][0] == 0


def test_notify_only_customers_find_it_harder(kk: bootstrap.Kokemus,
                                              ids: dict[str, int]) -> None:
    ws = ids["asiakkaan-valinta"]
    by = {}
    for mode, n, total, squares in _rows(kk, """
            SELECT segments[2], count(ces), sum(ces),
                   sum(ces * ces)
            FROM responses WHERE workspace_id = ? AND survey = 'after-refill' GROUP BY 1""", ws):
        by[mode] = scores.ces(n, float(total), float(squares))
    # Documented: CES 5.84 automatic, 4.84 notify_only.
    assert by["notify_only"].high < by["automatic"].low  # type: ignore[operator]


def test_missing_spec_sheets_show_in_information(kk: bootstrap.Kokemus,
                                                 ids: dict[str, int]) -> None:
    ws = ids["konekauppa"]
    means = dict(_rows(kk, """
        WITH missing AS (SELECT DISTINCT account FROM events
                         WHERE workspace_id = ? AND type = 'spec_sheet_missing')
        SELECT account IN (SELECT account FROM missing),
               avg((answers->'value'->>'information')::INT)
        FROM responses WHERE workspace_id = ? GROUP BY 1""", ws, ws))
    # Documented: 3.92 when the spec sheet was found, 2.45 when missing.
    assert means[True] < means[False] - 1.0
    roles = {r for (r,) in _rows(kk, "SELECT DISTINCT role FROM responses "
                                     "WHERE workspace_id = ?", ws)}
    assert roles == {"decider", "researcher"}  # whom the dealer met


def test_trigger_cursors_are_past_the_history(kk: bootstrap.Kokemus,
                                              ids: dict[str, int]) -> None:
    with kk.db.connect() as conn:
        cursors = dict(conn.execute(select(trigger_cursors.c.workspace_id,
                                           trigger_cursors.c.seq)).all())
    for ws in ids.values():
        last = _rows(kk, "SELECT max(seq) FROM events WHERE workspace_id = ?", ws)[0][0]
        assert cursors[ws] == last


def test_a_second_run_stores_no_invitation_or_response_twice(
        kk: bootstrap.Kokemus, ids: dict[str, int]) -> None:
    def counts() -> tuple[int, int, int]:
        with kk.db.connect() as conn:
            invited = conn.execute(select(invitations.c.id)).all()
        answered = _rows(kk, "SELECT count(*), count(DISTINCT invitation) FROM responses")[0]
        return len(invited), *answered

    before = counts()
    generate.run(kk, customers=CUSTOMERS, end=END)
    assert counts() == before
