"""Conformance to the designed path: hand-made logs whose deviations are known exactly, the
exact alignment per variant, and the appliance shop demo, where damaged deliveries leave the
designed path for returns, reshipment and customer service."""

from __future__ import annotations

import duckdb
import pytest

from kokemus import bootstrap
from kokemus.analytics.conformance import (
    Design,
    align,
    align_variants,
    cases,
    conformance,
    deviations_by_touchpoint,
)
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, selection, table_log
from kokemus.domain.journeys import Journey
from kokemus.services import workspaces
from tests.analytics.generated import ACTIVITIES, make_log


def journey(path: list[str], required: str, others: str = "", goal: str | None = None
            ) -> Journey:
    """A journey over one-letter touchpoints; `required` names the required ones."""
    return Journey.model_validate({
        "id": "j", "name": {"en": "J"}, "stages": [{"id": "s", "name": {"en": "S"}}],
        "touchpoints": [{"id": t, "name": {"en": t}, "stage": "s", "channel": "web",
                         "owner": "o", "category": "reliability", "required": t in required}
                        for t in dict.fromkeys([*path, *others])],
        "designed_path": path, "goal": goal,
    })


# Designed path a → b → c → d; a, c and d required, b optional; x is not on the path.
ABCD = journey(["a", "b", "c", "d"], required="acd", others="x")

# (case, activity, minute, seq), inserted out of order on purpose.
EVENTS = [
    ("ok", "d", 3, 4), ("ok", "a", 0, 1), ("ok", "c", 2, 3), ("ok", "b", 1, 2),
    # b is optional: a → c is allowed; stopping before d is drop-off, not a deviation.
    ("short", "c", 5, 11), ("short", "a", 0, 10),
    # Same minute for a and c: the sequence puts c first, so a comes in the wrong order.
    ("tie", "a", 0, 21), ("tie", "c", 0, 20), ("tie", "d", 1, 22),
    # x is unexpected, the second c is a loop (a revisit), a is skipped (d was reached).
    ("detour", "c", 0, 30), ("detour", "x", 1, 31), ("detour", "c", 2, 32),
    ("detour", "d", 3, 33),
    # The same minute and sequence order as written: a, a is a self-loop.
    ("again", "a", 7, 40), ("again", "a", 7, 41),
]


def _log(rows: list[tuple[str, str, int, int]]) -> tuple[DuckDBEngine, Log]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (case_key VARCHAR, step VARCHAR, stamp TIMESTAMP, n BIGINT)")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, TIMESTAMP '2026-01-01' + to_minutes(?), ?)",
                        rows)
    return DuckDBEngine(con), table_log("t", "case_key", "step", "stamp", "n")


def test_each_event_is_classified_against_the_cases_progress() -> None:
    engine, log = _log(EVENTS)
    got = {r["case_id"]: r for r in cases(engine, log, ABCD).to_pylist()}
    counts = {c: (r["events"], r["in_step"], r["unexpected"], r["loop"], r["wrong_order"],
                  r["skipped"]) for c, r in got.items()}
    assert counts == {
        "ok": (4, 4, 0, 0, 0, 0),
        "short": (2, 2, 0, 0, 0, 0),
        "tie": (3, 2, 0, 0, 1, 0),
        "detour": (4, 2, 1, 1, 0, 1),
        "again": (2, 1, 0, 1, 0, 0),
    }
    # fitness = in step / (events + skipped)
    assert got["ok"]["fitness"] == 1.0 and got["short"]["fitness"] == 1.0
    assert got["tie"]["fitness"] == pytest.approx(2 / 3)
    assert got["detour"]["fitness"] == pytest.approx(2 / 5)
    assert got["again"]["fitness"] == pytest.approx(1 / 2)
    # Allowed transitions, the start included: ok 4/4; short: start→a, a→c (b optional);
    # tie: start→c is not allowed (a is required), c→a not, a→d not (c is between);
    # detour: only c→d of start→c, c→x, x→c, c→d; again: start→a, not a→a.
    assert {c: r["transition_fitness"] for c, r in got.items()} == pytest.approx(
        {"ok": 1.0, "short": 1.0, "tie": 0.0, "detour": 0.25, "again": 0.5})
    assert {c for c, r in got.items() if r["conforms"]} == {"ok", "short"}
    assert {c for c, r in got.items() if r["complete"]} == {"ok", "tie"}
    assert got["detour"]["furthest"] == 4 and got["short"]["furthest"] == 3


def test_journey_figures_and_totals_per_kind() -> None:
    engine, log = _log(EVENTS)
    result = conformance(engine, log, ABCD)
    assert result.cases == 5
    assert result.fitness == pytest.approx((1 + 1 + 2 / 3 + 2 / 5 + 1 / 2) / 5)
    assert result.transition_fitness == pytest.approx((1 + 1 + 0 + 0.25 + 0.5) / 5)
    assert result.conforming_share == pytest.approx(2 / 5)
    assert result.complete_share == pytest.approx(2 / 5)
    totals = {r["kind"]: (r["cases"], r["occurrences"])
              for r in result.deviations.to_pylist()}
    assert totals == {"skipped": (1, 1), "wrong_order": (1, 1), "loop": (2, 2),
                      "unexpected": (1, 1)}
    skipped = {r["touchpoint"]: r["cases"] for r in result.skipped.to_pylist()}
    assert skipped == {"a": 1, "c": 0, "d": 0}
    where = {(r["touchpoint"], r["kind"]): r["cases"]
             for r in deviations_by_touchpoint(engine, log, ABCD).to_pylist()}
    assert where == {("x", "unexpected"): 1, ("c", "loop"): 1, ("a", "loop"): 1,
                     ("a", "wrong_order"): 1}


def test_required_touchpoints_default_to_the_whole_path_and_include_the_goal() -> None:
    assert Design.of(journey(["a", "b", "c"], required="")).required == {"a", "b", "c"}
    assert Design.of(journey(["a", "b", "c"], required="", goal="c")).required == {"c"}
    # A required touchpoint off the path has no place in the order: it is not checked.
    assert Design.of(journey(["a", "b"], required="bx", others="x")).required == {"b"}
    # Without required touchpoints between, one may jump to the end of the path.
    design = Design.of(journey(["a", "b", "c", "d"], required="b"))
    assert [design.allowed_after(p) for p in range(5)] == [2, 2, 4, 4, 4]


def test_an_empty_log_has_no_figures() -> None:
    engine, log = _log([])
    result = conformance(engine, log, ABCD)
    assert (result.cases, result.fitness, result.conforming_share) == (0, None, None)
    assert result.deviations.column("occurrences").to_pylist() == [0, 0, 0, 0]


def test_exact_alignment_of_a_variant() -> None:
    design = Design.of(ABCD)
    assert align(["a", "b", "c", "d"], design).moves == ("a", "b", "c", "d")
    # An optional touchpoint missing costs nothing; a required one costs one.
    assert align(["a", "c", "d"], design).cost == 0
    found = align(["c", "x", "c", "d"], design)
    assert found.moves == ("-a", "c", "+x", "+c", "d") or found.moves == (
        "-a", "+c", "+x", "c", "d")
    assert found.cost == 3
    # worst: 4 events extra and 3 required touchpoints missing
    assert found.fitness == pytest.approx(1 - 3 / 7)
    assert align([], design).cost == 3 and align(["x"], design).fitness == 0.0


def test_alignments_per_distinct_variant() -> None:
    engine, log = _log([*EVENTS, ("ok2", "a", 0, 50), ("ok2", "b", 0, 51),
                        ("ok2", "c", 0, 52), ("ok2", "d", 0, 53)])
    rows = align_variants(engine, log, ABCD).to_pylist()
    assert rows[0]["variant"] == ["a", "b", "c", "d"] and rows[0]["cases"] == 2
    assert rows[0]["cost"] == 0 and rows[0]["fitness"] == 1.0
    by_variant = {tuple(r["variant"]): r for r in rows}
    # The tie: c before a by sequence; the alignment lets the journey end before d was
    # required, so an unfinished variant ("short") pays for the missing d.
    assert by_variant["c", "a", "d"]["cost"] == 2
    assert by_variant["a", "c"]["model_moves"] == 1
    assert by_variant["a", "a"]["log_moves"] == 1 and by_variant["a", "a"]["model_moves"] == 2


def test_damaged_deliveries_leave_the_designed_path(demo: bootstrap.Kokemus) -> None:
    shop = workspaces.get(demo.db, "kodinkone")
    purchase = shop.document.journeys[0]
    shipped = selection(shop.id, purchase).of_cases("type = 'shipped'")
    damaged = "type = 'delivery_damaged'"
    with demo.events.reading() as cur:
        engine = DuckDBEngine(cur)
        hurt = conformance(engine, shipped.of_cases(damaged), purchase)
        rest = conformance(engine, shipped.without_cases(damaged), purchase)
        where = deviations_by_touchpoint(engine, shipped.of_cases(damaged), purchase)
        aligned = align_variants(engine, shipped.of_cases(damaged), purchase, top=10)
    assert hurt.cases >= 10 and rest.cases > 20 * hurt.cases
    assert hurt.fitness is not None and rest.fitness is not None
    assert hurt.fitness < rest.fitness - 0.05
    unexpected = {r["touchpoint"]: r["cases"] for r in where.to_pylist()
                  if r["kind"] == "unexpected"}
    # Every damaged order goes back to the warehouse and is shipped again (a return comes
    # 3-7 days after the damage, so one damaged in the history's last week may still be on
    # its way when the history ends); the customer finds out herself and calls or chats.
    settled = f"{damaged} AND ts < TIMESTAMPTZ '2026-06-21 00:00:00+00'"
    with demo.events.reading() as cur:
        engine = DuckDBEngine(cur)
        done = conformance(engine, shipped.of_cases(settled), purchase).cases
        went_back = {r["touchpoint"]: r["cases"] for r in deviations_by_touchpoint(
            engine, shipped.of_cases(settled), purchase).to_pylist()
            if r["kind"] == "unexpected"}
    assert done >= hurt.cases - 5
    for touchpoint in ("returns", "reshipment"):
        assert went_back[touchpoint] == done
    assert unexpected["customer-service"] == hurt.cases
    # The second delivery revisits the delivery touchpoint.
    assert {r["touchpoint"] for r in where.to_pylist() if r["kind"] == "loop"} >= {"delivery"}
    moves = {m for row in aligned.to_pylist() for m in row["alignment"]}
    assert {"+returns", "+reshipment", "+customer-service"} <= moves


def test_two_ways_of_counting_agree_on_a_generated_log() -> None:
    """The per-case figures count deviations from the running front; the per-touchpoint
    ones classify every event: on 2,000 random shuffled cases, with many equal timestamps,
    they must give the same totals."""
    con = duckdb.connect()
    con.register("gen", make_log(2000, seed=3))
    engine = DuckDBEngine(con)
    log = table_log("gen", seq="seq")
    design = journey(ACTIVITIES[:6], required="")  # the whole path required; g-j unexpected
    result = conformance(engine, log, design)
    by_kind: dict[str, int] = {}
    for row in deviations_by_touchpoint(engine, log, design).to_pylist():
        by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["events"]
    totals = {r["kind"]: r["occurrences"] for r in result.deviations.to_pylist()}
    assert by_kind == {k: n for k, n in totals.items() if k != "skipped" and n}
    assert min(by_kind.values()) > 100
