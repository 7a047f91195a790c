"""The demo's planted truths are in the stores, with the sizes docs/demo.md gives."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import cast

import pyarrow as pa
import pytest
from sqlalchemy import select

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import generate
from kokemus.services import workspaces
from kokemus.storage.tables import customers

END = date(2026, 6, 30)
CUSTOMERS = 4_000
SLUGS = ("kodinkone", "konekauppa", "asiakkaan-valinta")


@pytest.fixture
def demo(kk: bootstrap.Kokemus) -> dict[str, int]:
    """Workspace ids by slug, after a small demo with a fixed end date."""
    generate.run(kk, customers=CUSTOMERS, days=180, seed=7, end=END)
    return {slug: workspaces.get(kk.db, slug).id for slug in SLUGS}


def _rows(kk: bootstrap.Kokemus, sql: str, *params: object) -> list[tuple[object, ...]]:
    with kk.events.reading() as cur:
        return cur.execute(sql, list(params)).fetchall()


def _fingerprint(kk: bootstrap.Kokemus) -> tuple[int, str]:
    row = _rows(kk, """
        SELECT count(*), md5(string_agg(concat_ws('|', id, type, customer, account, channel,
               touchpoint, epoch_us(occurred_at), properties::VARCHAR), chr(10)
               ORDER BY workspace_id, id))
        FROM events""")[0]
    return int(row[0]), str(row[1])  # type: ignore[call-overload]


def test_three_valid_workspaces_and_a_summary(kk: bootstrap.Kokemus) -> None:
    lines = generate.run(kk, customers=CUSTOMERS, end=END)
    assert set(SLUGS) <= set(workspaces.slugs(kk.db))
    for slug in SLUGS:
        ws = workspaces.get(kk.db, slug)
        assert ws.document.problems() == []
        assert ws.document.promises and ws.document.journeys
        assert ws.document.value_proposition.elements_of_value
        assert any(line.strip().startswith(f"{slug}:") for line in lines)
    assert "2026-01-01 – 2026-06-29 (180 days)" in lines[0]


def test_size_period_and_touchpoints(kk: bootstrap.Kokemus, demo: dict[str, int]) -> None:
    total, first, last = _rows(kk, "SELECT count(*), min(occurred_at), max(occurred_at) "
                                   "FROM events")[0]
    # ~15 events per customer: 20,000 customers give ~300,000 events.
    assert 12 * CUSTOMERS <= total <= 18 * CUSTOMERS  # type: ignore[operator]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert start <= first and last < datetime(2026, 6, 30, tzinfo=UTC)  # type: ignore[operator]

    for slug, ws_id in demo.items():
        mapping = workspaces.get(kk.db, slug).touchpoint_for_event
        with kk.events.reading() as cur:
            cur.register("mapping", pa.table({"type": list(mapping),
                                              "expected": list(mapping.values())}))
            wrong, unmapped = cur.execute("""
                SELECT count(*) FILTER (WHERE m.expected IS DISTINCT FROM e.touchpoint),
                       count(*) FILTER (WHERE m.type IS NULL)
                FROM events e LEFT JOIN mapping m USING (type)
                WHERE e.workspace_id = ?""", [ws_id]).fetchone()  # type: ignore[misc]
        assert wrong == 0, slug
        assert unmapped == 0, slug  # every demo event type belongs to a touchpoint


def test_kiito_damages_ten_percent(kk: bootstrap.Kokemus, demo: dict[str, int]) -> None:
    rates = {str(carrier): cast(float, rate) for carrier, rate in _rows(kk, """
        SELECT properties->>'carrier',
               count(*) FILTER (WHERE type = 'delivery_damaged')
               / count(*) FILTER (WHERE type = 'shipped')
        FROM events WHERE workspace_id = ? AND type IN ('shipped', 'delivery_damaged')
        GROUP BY 1""", demo["kodinkone"])}
    assert set(rates) == {"Kiito", "Rahtisiili", "Pakettiässä"}
    assert 0.07 <= rates["Kiito"] <= 0.13
    # The others damage 0.3 %; a few thousand customers give a handful of damages at most.
    for carrier in ("Rahtisiili", "Pakettiässä"):
        assert rates[carrier] < 0.02 and rates["Kiito"] > 2 * rates[carrier]


def test_damaged_customers_score_lower(kk: bootstrap.Kokemus, demo: dict[str, int]) -> None:
    scores = {damaged: (n, nps, ces, csat) for damaged, n, nps, ces, csat in _rows(kk, """
        WITH damaged AS (SELECT properties->>'order' AS "order" FROM events
                         WHERE workspace_id = ? AND type = 'delivery_damaged')
        SELECT properties->>'order' IN (SELECT "order" FROM damaged), count(*),
               avg((properties->>'nps')::INT), avg((properties->>'ces')::INT),
               avg((properties->>'csat')::INT)
        FROM events WHERE workspace_id = ? AND type = 'feedback_given' GROUP BY 1""",
        demo["kodinkone"], demo["kodinkone"])}
    n, nps, ces, csat = scores[True]
    _, nps_rest, ces_rest, csat_rest = scores[False]
    assert n >= 5  # type: ignore[operator]
    # Measured at 20,000 customers: NPS 3.3 vs 8.0, CES 2.4 vs 5.3, CSAT 2.3 vs 4.1; here
    # about 18 damaged deliveries answer, so each of their means is noisy by ~0.3 (CES, CSAT)
    # to ~0.6 (NPS).
    assert nps < nps_rest - 2.5 and ces < ces_rest - 1.5  # type: ignore[operator]
    assert csat < csat_rest - 0.8  # type: ignore[operator]
    no_notice = _rows(kk, """
        SELECT count(*) FROM events d WHERE d.workspace_id = ? AND d.type = 'delivery_damaged'
        AND EXISTS (SELECT 1 FROM events n WHERE n.workspace_id = d.workspace_id
                    AND n.customer = d.customer AND n.type = 'delay_notified')""",
                      demo["kodinkone"])[0][0]
    assert no_notice == 0  # the shop never tells about the damage


def test_b2b_losses_follow_lost_touchpoints(kk: bootstrap.Kokemus,
                                            demo: dict[str, int]) -> None:
    by = {(missing, reached): (n, loss) for missing, reached, n, loss in _rows(kk, """
        WITH accounts AS (
            SELECT account,
                   bool_or(type = 'spec_sheet_missing') AS missing,
                   bool_or(type = 'sales_meeting'
                           AND properties->>'attendee_role' = 'decider') AS reached,
                   bool_or(type = 'deal_lost') AS lost
            FROM events WHERE workspace_id = ? GROUP BY account
            HAVING bool_or(type IN ('deal_won', 'deal_lost')))
        SELECT missing, reached, count(*), avg(lost::INT) FROM accounts
        GROUP BY CUBE (missing, reached)""", demo["konekauppa"])}
    # Documented: 0.725 lost without a spec sheet vs 0.425 with; 0.69 vs 0.44 by the decider.
    assert by[(True, None)][1] > by[(False, None)][1] + 0.15  # type: ignore[operator]
    assert by[(None, False)][1] > by[(None, True)][1] + 0.12  # type: ignore[operator]
    assert by[(False, True)][1] < 0.5 < by[(True, False)][1]  # type: ignore[operator]


def test_notify_only_waits_longest(kk: bootstrap.Kokemus, demo: dict[str, int]) -> None:
    ws_id = demo["asiakkaan-valinta"]
    with kk.db.connect() as conn:
        modes = conn.execute(select(customers.c.id, customers.c.attributes)
                             .where(customers.c.workspace_id == ws_id)).all()
    assert {a["mode"] for _, a in modes} == {"automatic", "ask_first", "notify_only"}
    with kk.events.reading() as cur:
        cur.register("modes", pa.table({"customer": [c for c, _ in modes],
                                        "mode": [a["mode"] for _, a in modes]}))
        hours = dict(cur.execute("""
            WITH low AS (SELECT customer, occurred_at, properties->>'need' AS need FROM events
                         WHERE workspace_id = ? AND type = 'fridge_low'),
                 met AS (SELECT occurred_at, properties->>'need' AS need FROM events
                         WHERE workspace_id = ? AND type = 'refill_delivered')
            SELECT mode, median(epoch(met.occurred_at - low.occurred_at)) / 3600
            FROM low JOIN met USING (need) JOIN modes USING (customer)
            GROUP BY mode""", [ws_id, ws_id]).fetchall())
    # Documented medians: about 15 h automatic, 20 h ask_first, 57 h notify_only.
    assert hours["automatic"] < hours["ask_first"] < hours["notify_only"]
    assert hours["notify_only"] > hours["automatic"] + 25


def test_same_seed_same_history(kk: bootstrap.Kokemus, demo: dict[str, int],
                                tmp_path: Path) -> None:
    before = _fingerprint(kk)
    generate.run(kk, customers=CUSTOMERS, end=END)  # again, into the same store
    assert _fingerprint(kk) == before  # nothing stored twice

    with bootstrap.build(Settings(data_dir=tmp_path / "again", secret_key="t")) as again:
        generate.run(again, customers=CUSTOMERS, end=END)
        assert _fingerprint(again) == before
    with bootstrap.build(Settings(data_dir=tmp_path / "seed8", secret_key="t")) as other:
        generate.run(other, customers=CUSTOMERS, end=END, seed=8)
        assert _fingerprint(other) != before
