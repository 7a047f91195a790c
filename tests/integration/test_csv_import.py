"""CSV imports treat a row they cannot read like JSONL treats a bad line: into the reject
file with its line and reason, and every other row stored."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson

from kokemus import bootstrap
from kokemus.services import imports
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage import people

HEADER = b"id,type,customer,channel,occurred_at,properties.note\n"


def row(i: int, note: bytes = b"fine") -> bytes:
    return b"e%d,order_placed,c%d,web,2026-03-01T10:00:00+02:00,%s\n" % (i, i, note)


def rejects_of(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def stored_ids(kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> list[str]:
    with kk.events.reading() as cur:
        return [r[0] for r in cur.execute(
            "SELECT id FROM events WHERE workspace_id = ? ORDER BY seq", [workspace.id]).fetchall()]


def test_huge_field_and_bad_utf8_rows_are_rejected_and_the_rest_stored(
        tmp_path: Path, kk: bootstrap.Kokemus, workspace: ActiveWorkspace) -> None:
    limit = csv.field_size_limit()
    path = tmp_path / "events.csv"
    path.write_bytes(
        HEADER + row(1)                                   # line 2
        + row(2, b"x" * (limit + 10))                     # line 3: over csv's field limit
        + row(3)                                          # line 4
        + row(4, b"caf\xe9")                              # line 5: Latin-1, not UTF-8
        + b'e5,order_placed,c5,web,2026-03-01T10:00:00+02:00,"two\nlines"\n'  # lines 6-7
        + row(6, b"\xff" * (limit + 1))                   # line 8: both at once
        + row(7))                                         # line 9
    result = imports.import_file("events", str(path), workspace, db=kk.db, events=kk.events)
    assert (result.rows, result.outcome.accepted) == (7, 4)
    assert stored_ids(kk, workspace) == ["e1", "e3", "e5", "e7"]
    assert result.rejects_path == Path(f"{path}.rejects.jsonl")
    rejects = rejects_of(result.rejects_path)
    assert [(r["line"], r["reason"]) for r in rejects] == [
        (3, f"the line is {limit + 10 + 50} bytes, more than the {limit} a CSV field may hold"),
        (5, "not valid UTF-8: byte 0xe9 at column 53"),
        (8, f"the line is {limit + 1 + 50} bytes, more than the {limit} a CSV field may hold"),
    ]
    assert rejects[1]["input"] == "e4,order_placed,c4,web,2026-03-01T10:00:00+02:00,caf\ufffd"
    assert len(str(rejects[0]["input"])) <= 1_001  # a huge row is shown cut, not copied whole


def test_customers_csv_with_a_bad_row(tmp_path: Path, kk: bootstrap.Kokemus,
                                      workspace: ActiveWorkspace) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(b"id,name,segments\nc1,Aino,households\nc2,\xc3\x28bad,households\n"
                     b"c3,Emma,\n")
    result = imports.import_file("customers", str(path), workspace, db=kk.db,
                                 events=kk.events)
    assert result.outcome.accepted == 2
    assert [(r["line"], r["reason"]) for r in rejects_of(result.rejects_path)] == [
        (3, "not valid UTF-8: byte 0xc3 at column 4")]
    assert people.get_customer(kk.db, workspace.id, "c2") is None
    assert people.get_customer(kk.db, workspace.id, "c3")["name"] == "Emma"
