"""`kokemus journeys ...` on a workspace's events: the numbers and the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kokemus.cli import app
from kokemus.services import workspaces
from kokemus.storage import responses
from tests.analytics.test_scores import table_of
from tests.cli.test_cli import home, open_stores  # noqa: F401  (home: the fixture)

runner = CliRunner()


def write_events(path: Path) -> None:
    # c1: order -> delivery; c2: order -> delivery (equal timestamps, seq decides);
    # c3: order only (by phone). Rows are out of order on purpose.
    rows = [
        ("e5", "c3", "order_placed", "phone", "2026-02-01T09:00:00Z"),
        ("e2", "c1", "delivered", "web", "2026-01-03T10:00:00Z"),
        ("e3", "c2", "order_placed", "web", "2026-01-05T10:00:00Z"),
        ("e1", "c1", "order_placed", "web", "2026-01-01T10:00:00Z"),
        ("e4", "c2", "delivered", "web", "2026-01-05T10:00:00Z"),
    ]
    path.write_text("".join(json.dumps({"id": i, "customer": c, "type": t, "channel": ch,
                                        "occurred_at": ts}) + "\n"
                            for i, c, t, ch, ts in rows))


def run_json(*args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, ["journeys", *args, "-o", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def imported(home: Path) -> Path:  # noqa: F811
    write_events(home / "ev.jsonl")
    assert runner.invoke(app, ["import", "events", "ev.jsonl"]).exit_code == 0
    return home


def test_dfg_counts_and_times(imported: Path) -> None:
    assert run_json("dfg", "--journey", "purchase") == [
        {"source": "order", "target": "delivery", "count": 2,
         "median_s": 86400.0, "p90_s": 155520.0},
    ]


def test_variants_and_filters(imported: Path) -> None:
    variants = run_json("variants")
    assert [(v["variant"], v["cases"]) for v in variants] == [
        (["order", "delivery"], 2), (["order"], 1)]
    assert run_json("variants", "--channel", "phone") == [
        {"variant": ["order"], "cases": 1, "share": 1.0, "length": 1}]
    assert run_json("variants", "--since", "2026-01-04")[0]["cases"] == 1
    starts = {r["activity"]: (r["starts"], r["ends"]) for r in run_json("starts")}
    assert starts == {"order": (3, 1), "delivery": (0, 2)}


def test_unknown_journey_is_a_clear_error(imported: Path) -> None:
    result = runner.invoke(app, ["journeys", "dfg", "--journey", "nope"])
    assert result.exit_code == 1
    assert "no journey 'nope' in workspace 'my-company' (known: purchase)" in result.output


def test_table_output_reads_like_durations(imported: Path) -> None:
    result = runner.invoke(app, ["journeys", "dfg"])
    # each column of seconds in the unit its median reads best in, the unit in its heading
    assert "median (h)" in result.output and "p90 (d)" in result.output
    assert "24.0" in result.output and "1.8" in result.output
    assert "1 pair" in result.output


def test_channels_and_consistency(imported: Path) -> None:
    switching = run_json("channels")
    assert isinstance(switching, dict)
    assert [(p["from_channel"], p["to_channel"], p["count"]) for p in switching["pairs"]] == [
        ("web", "web", 2)]
    assert switching["multichannel"] == [
        {"cases": 3, "multichannel_cases": 0, "share": 0.0}]
    # order is reached on web (2 cases) and phone (1): one row per channel
    rows = run_json("consistency")
    assert sorted((r["touchpoint"], r["channel"], r["cases"]) for r in rows) == [
        ("order", "phone", 1), ("order", "web", 2)]
    assert all(r["nps_n"] == 0 and r["nps"] is None for r in rows)

    # Answers about the order: two by phone (a promoter and a detractor), one on the web.
    with open_stores(imported) as kk:
        workspace_id = workspaces.get(kk.db, "my-company").id
        responses.insert_many(kk.events, table_of([
            {"touchpoint": "order", "channel": "phone", "nps": 10, "ces": 6},
            {"touchpoint": "order", "channel": "phone", "nps": 2, "ces": 2},
            {"touchpoint": "order", "channel": "web", "nps": 9, "csat": 5},
        ], workspace_id))
    scored = {r["channel"]: r for r in run_json("consistency")}
    assert (scored["phone"]["nps"], scored["phone"]["nps_n"]) == (0.0, 2)
    assert (scored["phone"]["ces"], scored["phone"]["ces_n"]) == (4.0, 2)
    assert (scored["web"]["nps"], scored["web"]["csat"], scored["web"]["csat_n"]) == (
        100.0, 100.0, 1)


def test_conformance_dropoff_and_funnel(imported: Path) -> None:
    result = run_json("conformance")
    assert isinstance(result, dict)
    # c1 and c2 follow order -> delivery; c3 has only ordered so far (not a deviation)
    assert result["conformance"][0]["cases"] == 3
    assert result["conformance"][0]["fitness"] == 1.0
    assert {r["kind"]: r["cases"] for r in result["deviations"]}["skipped"] == 0
    outcomes = run_json("dropoff")
    assert isinstance(outcomes, dict)
    assert outcomes["outcomes"] == [{"reached": 2, "in_flight": 1, "lost": 0}]
    steps = run_json("funnel", "-s", "order", "-s", "delivery", "--step-within", "1d")
    assert [(s["touchpoint"], s["cases"]) for s in steps] == [("order", 3), ("delivery", 1)]


def test_import_log_then_analyse(home: Path) -> None:  # noqa: F811
    (home / "log.csv").write_text(
        "case,step,time\n"
        "k1,Ask Quote,2026-01-01 10:00\nk1,Send Quote,2026-01-01 12:00\n"
        "k2,Ask Quote,2026-01-02 09:00\nk2,Send Quote,2026-01-02 09:00\n")
    args = ["import", "log", "log.csv", "--case", "case", "--activity", "step",
            "--timestamp", "time"]
    result = runner.invoke(app, args)
    assert "4 rows, 4 events stored, 0 duplicates, 0 skipped; 2 cases, 2 activities" in (
        result.output), result.output
    assert "0 events stored, 4 duplicates" in runner.invoke(app, args).output
    assert run_json("dfg") == [{"source": "ask_quote", "target": "send_quote", "count": 2,
                                "median_s": 3600.0, "p90_s": 6480.0}]


def test_segment_and_outcome_filters(imported: Path) -> None:
    (imported / "customers.jsonl").write_text(
        '{"id": "c1", "segments": ["vip"]}\n{"id": "c3", "segments": ["vip", "b"]}\n'
        '{"id": "c2", "segments": ["b"]}\n')
    assert runner.invoke(app, ["import", "customers", "customers.jsonl"]).exit_code == 0
    vip = run_json("variants", "--segment", "vip")
    assert sorted((tuple(v["variant"]), v["cases"]) for v in vip) == [
        (("order",), 1), (("order", "delivery"), 1)]
    assert run_json("variants", "--segment", "nobody") == []
    reached = run_json("variants", "--journey", "purchase", "--outcome", "reached")
    assert [(v["variant"], v["cases"]) for v in reached] == [(["order", "delivery"], 2)]
    missed = run_json("variants", "--journey", "purchase", "--outcome", "not_reached")
    assert [(v["variant"], v["cases"]) for v in missed] == [(["order"], 1)]


def test_order_the_journeys_then_the_dfg_reads_the_copy(imported: Path) -> None:
    before = run_json("dfg", "--journey", "purchase")
    result = runner.invoke(app, ["journeys", "order"])
    assert result.exit_code == 0, result.output
    assert "journeys in case order up to event 5: 5 customer steps, 0 account steps" in (
        result.stdout)
    assert "already in case order up to event 5" in runner.invoke(
        app, ["journeys", "order"]).stdout
    assert run_json("dfg", "--journey", "purchase") == before
    # A later event makes the copy stale: the DFG sorts again and counts it.
    (imported / "more.jsonl").write_text(json.dumps({
        "id": "e6", "customer": "c3", "type": "delivered", "channel": "web",
        "occurred_at": "2026-02-02T09:00:00Z"}) + "\n")
    assert runner.invoke(app, ["import", "events", "more.jsonl"]).exit_code == 0
    assert run_json("dfg", "--journey", "purchase")[0]["count"] == 3
    assert "up to event 6" in runner.invoke(app, ["journeys", "order"]).stdout
    assert run_json("dfg", "--journey", "purchase")[0]["count"] == 3
