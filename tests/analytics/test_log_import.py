"""Importing a process-mining log (CSV or Parquet) as events, checked by its figures: the
events, cases, activities and variants the journey analytics find after the import equal
those of the file."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from kokemus import bootstrap
from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import events_log
from kokemus.domain.errors import KokemusError
from kokemus.services.logs import import_log
from kokemus.services.workspaces import ActiveWorkspace
from tests.analytics.generated import make_log

CASE, ACT, TS = "case:concept:name", "concept:name", "time:timestamp"
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def export(log: pa.Table) -> pa.Table:
    """The log as a process-mining tool exports it: named columns, an extra attribute, rows in
    the order of (case, time) with ties in their true order, cases interleaved by time."""
    df = log.to_pandas().sort_values(["ts", "seq"], kind="stable")
    df = df.rename(columns={"case_id": CASE, "activity": ACT, "ts": TS})
    df["org:resource"] = "r" + (df["seq"] % 17).astype(str)
    return pa.Table.from_pandas(df.drop(columns="seq"), preserve_index=False)


def figures(table: pa.Table) -> dict[str, Any]:
    """The file's own figures; ties in time keep the file's row order."""
    df = table.to_pandas()
    df = df.sort_values([CASE, TS], kind="stable")
    paths = Counter(tuple(g[ACT]) for _, g in df.groupby(CASE, sort=False))
    return {"events": len(df), "cases": df[CASE].nunique(), "activities": df[ACT].nunique(),
            "variants": paths}


def stored(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> dict[str, Any]:
    with kk.events.reading() as cur:
        engine = DuckDBEngine(cur)
        log = events_log(workspace.id)
        counts = journeys.summary(engine, log)
        rows = journeys.variants(engine, log).to_pylist()
    return {**counts, "variants": Counter({tuple(r["variant"]): r["cases"] for r in rows})}


def check(path: Path, table: pa.Table, kk: bootstrap.Kokemus, workspace: ActiveWorkspace,
          **names: str) -> None:
    want = figures(table)
    columns = {"case": CASE, "activity": ACT, "timestamp": TS, **names}
    result = import_log(path, **columns, workspace=workspace, events=kk.events)
    assert (result.rows, result.stored, result.duplicates, result.skipped) == (
        want["events"], want["events"], 0, 0)
    assert (result.cases, result.activities) == (want["cases"], want["activities"])
    got = stored(kk, workspace)
    assert (got["events"], got["cases"], got["activities"]) == (
        want["events"], want["cases"], want["activities"])
    as_touchpoints = Counter({tuple(result.touchpoints[a] for a in path_): n
                              for path_, n in want["variants"].items()})
    assert got["variants"] == as_touchpoints
    assert len(got["variants"]) == len(want["variants"])
    again = import_log(path, **columns, workspace=workspace, events=kk.events)
    assert (again.stored, again.duplicates) == (0, want["events"])
    assert kk.events.count(workspace.id) == want["events"]


def test_a_csv_log(tmp_path: Path, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    table = export(make_log(3000, seed=11))
    path = tmp_path / "log.csv"
    pacsv.write_csv(table, path)
    check(path, table, kk, workspace)


def test_a_parquet_log(tmp_path: Path, kk: bootstrap.Kokemus,
                       workspace: ActiveWorkspace) -> None:
    table = export(make_log(3000, seed=12))
    path = tmp_path / "log.parquet"
    pq.write_table(table, path)
    check(path, table, kk, workspace)


def test_activity_names_become_touchpoint_ids(tmp_path: Path, kk: bootstrap.Kokemus,
                                              workspace: ActiveWorkspace) -> None:
    path = tmp_path / "names.csv"
    path.write_text(
        "case,activity,time\n"
        "007,W_Completeren aanvraag,2024-03-01 10:00:00\n"
        "007,A submitted,2024-03-01 10:00:00\n"
        "007,a_submitted,2024-03-01 11:00:00+02:00\n"
        "007,Überprüfung,2024-03-01T12:00:00Z\n"
        "008,!!!,2024-03-02 09:00:00\n"
        "008,,2024-03-02 09:00:00\n"
        ",Überprüfung,2024-03-02 09:00:00\n"
        "008,Überprüfung,not a time\n",
        encoding="utf-8",
    )
    result = import_log(path, case="case", activity="activity", timestamp="time",
                        workspace=workspace, events=kk.events, channel="web")
    assert (result.rows, result.stored, result.skipped) == (8, 5, 3)
    tps = result.touchpoints
    assert tps["W_Completeren aanvraag"] == "w_completeren_aanvraag"
    assert tps["Überprüfung"] == "uberprufung"
    assert tps["A submitted"] != tps["a_submitted"]  # both 'a_submitted': told apart
    assert all(t.startswith("a_submitted-") for t in (tps["A submitted"], tps["a_submitted"]))
    assert tps["!!!"].startswith("activity-")
    assert all(SLUG.match(t) and len(t) <= 64 for t in tps.values())
    with kk.events.reading() as cur:
        rows = cur.execute(
            "SELECT customer, touchpoint, type, channel, strftime(occurred_at, '%H:%M'), "
            "properties->>'activity' FROM events WHERE workspace_id = ? ORDER BY seq",
            [workspace.id]).fetchall()
    assert rows[0] == ("007", tps["W_Completeren aanvraag"], tps["W_Completeren aanvraag"],
                       "web", "10:00", "W_Completeren aanvraag")  # no zone: UTC
    assert rows[2][4] == "09:00"  # +02:00 converted to UTC
    assert rows[3][4] == "12:00"
    assert [r[0] for r in rows] == ["007", "007", "007", "007", "008"]  # '007' kept as text


def test_a_missing_column_is_named(tmp_path: Path, kk: bootstrap.Kokemus,
                                   workspace: ActiveWorkspace) -> None:
    path = tmp_path / "log.csv"
    path.write_text("case,activity,time\n1,a,2024-01-01\n", encoding="utf-8")
    with pytest.raises(KokemusError, match=r"no column 'timestamp'.*columns: case, activity"):
        import_log(path, case="case", activity="activity", timestamp="timestamp",
                   workspace=workspace, events=kk.events)
    with pytest.raises(KokemusError, match="format"):
        import_log(tmp_path / "log.xes", case="case", activity="activity", timestamp="time",
                   workspace=workspace, events=kk.events)


# The public logs with known figures (REFERENCE.md, "Journey analytics"). They cannot be
# downloaded here: point the variable at a CSV or Parquet export with pm4py's column names
# (case:concept:name, concept:name, time:timestamp), e.g. made from the XES file with
#   pm4py.convert_to_dataframe(pm4py.read_xes("BPI_Challenge_2012.xes")).to_parquet(...)
PUBLIC = {
    "KOKEMUS_BPI2012": {"events": 262_200, "cases": 13_087, "activities": 24, "variants": 4_366},
    "KOKEMUS_RECEIPT": {"events": 8_577, "cases": 1_434, "variants": 116},
}


@pytest.fixture(params=sorted(PUBLIC))
def public_log(request: pytest.FixtureRequest) -> Iterator[tuple[Path, dict[str, int]]]:
    variable: str = request.param
    path = os.environ.get(variable)
    if not path:
        pytest.skip(f"{variable} does not name a CSV/Parquet export of the public log "
                    "(not downloadable here)")
    yield Path(path), PUBLIC[variable]


def test_public_logs_give_their_known_figures(
    public_log: tuple[Path, dict[str, int]], kk: bootstrap.Kokemus,
    workspace: ActiveWorkspace
) -> None:
    path, known = public_log
    result = import_log(path, case=CASE, activity=ACT, timestamp=TS, workspace=workspace,
                        events=kk.events)
    assert result.skipped == 0
    got = stored(kk, workspace)
    assert got["events"] == known["events"]
    assert got["cases"] == known["cases"]
    if "activities" in known:
        assert got["activities"] == known["activities"]
    assert len(got["variants"]) == known["variants"]
    assert pd.Series(list(got["variants"].values())).sum() == known["cases"]
