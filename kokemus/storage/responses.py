"""Survey responses in the event store's database (DuckDB): saved whole, replaced as a
respondent answers more. Submissions reach this table through the journal
(storage/journal.py), which drains into it in bulk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from kokemus.domain import scores
from kokemus.domain.surveys import Ces, Csat, Nps
from kokemus.storage.events import EventStore

COLUMNS = (
    "workspace_id", "id", "survey", "invitation", "customer", "account", "role", "segments",
    "touchpoint", "channel", "source", "language", "event_id", "answers", "nps", "ces", "csat",
    "comment", "complete", "started_at", "updated_at", "revision",
)

SCHEMA = pa.schema([
    ("workspace_id", pa.int32()), ("id", pa.string()), ("survey", pa.string()),
    ("invitation", pa.string()), ("customer", pa.string()), ("account", pa.string()),
    ("role", pa.string()), ("segments", pa.list_(pa.string())), ("touchpoint", pa.string()),
    ("channel", pa.string()), ("source", pa.string()), ("language", pa.string()),
    ("event_id", pa.string()), ("answers", pa.string()), ("nps", pa.int8()),
    ("ces", pa.int8()), ("csat", pa.int8()), ("comment", pa.string()),
    ("complete", pa.bool_()), ("started_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")), ("revision", pa.int32()),
])

SCORE_COLUMNS = ("nps", "ces", "csat")

_SELECT = ", ".join(COLUMNS)
_ROW = "(" + ", ".join("?" for _ in COLUMNS) + ")"
# Up to this many rows a group's insert binds values instead of scanning Arrow (see _insert).
_FEW_ROWS = 32

Change = Callable[[dict[str, Any] | None], dict[str, Any]]


def _row(values: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(COLUMNS, values, strict=True))
    row["answers"] = orjson.loads(row["answers"]) if row["answers"] else {}
    return row


def get(store: EventStore, workspace_id: int, response_id: str, *,
        settled: bool = True) -> dict[str, Any] | None:
    """The response as DuckDB holds it; `settled=False` does not drain the journal first
    (storage/journal.py: its `get` looks there itself)."""
    with store.reading(settled=settled) as cur:
        found = cur.execute(f"SELECT {_SELECT} FROM responses WHERE workspace_id = ? AND id = ?",
                            [workspace_id, response_id]).fetchone()
    return _row(found) if found else None


def replace(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]],
            stored: list[tuple[int, str]]) -> None:
    """Write `rows` (as `get` reads them) in the caller's transaction, deleting first the
    rows of the `stored` keys (those of `rows` already in the table)."""
    _delete(con, stored)
    _insert(con, [{**r, "answers": orjson.dumps(r["answers"]).decode()} for r in rows])


def rows_where(con: Any, where: str, params: list[Any],
               order: str = "started_at, id") -> list[dict[str, Any]]:
    """The responses matching `where` (an SQL condition with `?` for `params`), as `get`
    reads them, in `order`."""
    found = con.execute(f"SELECT {_SELECT} FROM responses WHERE {where} ORDER BY {order}",
                        params).fetchall()
    return [_row(values) for values in found]


def rewrite(con: duckdb.DuckDBPyConnection, where: str, params: list[Any],
            change: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Replace every response matching `where` by `change` of it (the row as `get` reads it),
    in the caller's transaction; how many were rewritten. For changes to many responses at
    once (retention, erasure), not the answers of one."""
    found = rows_where(con, where, params)
    if not found:
        return 0
    rows = [{**new, "answers": orjson.dumps(new["answers"]).decode()}
            for new in map(change, found)]
    con.execute(f"DELETE FROM responses WHERE {where}", params)
    _insert(con, rows)
    return len(rows)


def _delete(con: duckdb.DuckDBPyConnection, stored: list[tuple[int, str]]) -> None:
    """Delete the rows of the `stored` keys (the rows a group replaces), looked up by the
    id's index: a join with the group's rows would scan the whole table."""
    for ws in dict.fromkeys(ws for ws, _ in stored):
        ids = [ident for w, ident in stored if w == ws]
        con.execute(f"DELETE FROM responses WHERE workspace_id = ? AND id IN "
                    f"({', '.join('?' for _ in ids)})", [ws, *ids])


def _insert(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """Insert a group's rows: a few as bound values, more through an Arrow scan. Alone,
    binding costs ~1.5 ms and 0.4 ms a row and the Arrow scan 3-4 ms whatever the size; in
    the busy server the scan took 12 ms for 6 rows (building the table and the scan take the
    GIL back many times, each a wait while the event loop holds it), binding 8 ms."""
    if len(rows) <= _FEW_ROWS:
        con.execute(f"INSERT INTO responses ({_SELECT}) VALUES "
                    + ", ".join([_ROW] * len(rows)),
                    [row[column] for row in rows for column in COLUMNS])
        return
    con.register("inserting", pa.Table.from_pylist(rows, schema=SCHEMA))
    try:
        con.execute(f"INSERT INTO responses ({_SELECT}) SELECT {_SELECT} FROM inserting")
    finally:
        con.unregister("inserting")


def _replace(con: duckdb.DuckDBPyConnection, batch: pa.Table, *, existing: bool = True) -> None:
    """Replace the rows of `batch`'s ids (the caller holds a transaction); `existing=False`
    when none of them is stored yet, which spares the delete."""
    con.register("replacing", batch)
    try:
        if existing:
            con.execute("DELETE FROM responses USING replacing WHERE "
                        "responses.workspace_id = replacing.workspace_id "
                        "AND responses.id = replacing.id")
        con.execute(f"INSERT INTO responses ({_SELECT}) SELECT {_SELECT} FROM replacing")
    finally:
        con.unregister("replacing")


def insert_many(store: EventStore, table: pa.Table) -> int:
    """Bulk write (demo, benchmarks, imports) of rows in SCHEMA; existing ids are replaced."""
    batch = table.select(list(COLUMNS)).cast(SCHEMA)
    with store.writing() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            _replace(con, batch)
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return int(table.num_rows)


def count(store: EventStore, workspace_id: int) -> int:
    with store.reading() as cur:
        found = cur.execute("SELECT count(*) FROM responses WHERE workspace_id = ?",
                            [workspace_id]).fetchone()
    return int(found[0]) if found else 0


def last_answered(store: EventStore, workspace_id: int) -> datetime | None:
    with store.reading() as cur:
        found = cur.execute("SELECT max(updated_at) FROM responses WHERE workspace_id = ?",
                            [workspace_id]).fetchone()
    return found[0] if found else None


@dataclass(frozen=True)
class ResponseFilter:
    """What the response browser narrows to; None or empty means no narrowing."""

    survey: str | None = None
    touchpoint: str | None = None
    channel: str | None = None
    segment: str | None = None
    band: tuple[str, str] | None = None  # (kind, band): ("nps", "promoter"), ("ces", "hard")
    complete_only: bool = False
    text: str | None = None  # case-insensitive, anywhere in the comment
    start: datetime | None = None  # started at or after
    end: datetime | None = None  # started before


def _band_values(kind: str, name: str) -> list[int]:
    """The scale values in a band, from the domain's own banding (one definition)."""
    low, high = {"nps": Nps.scale, "ces": Ces.scale, "csat": Csat.scale}[kind]
    return [v for v in range(low, high + 1) if scores.band(kind, v) == name]


def _like(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere: its % and _ are escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def browse(store: EventStore, workspace_id: int, filters: ResponseFilter, limit: int,
           offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of responses, newest first, and how many match in all. Every value is bound
    as a parameter; only fixed column names are written into the SQL."""
    where = ["workspace_id = ?"]
    params: list[Any] = [workspace_id]
    for column in ("survey", "touchpoint", "channel"):
        value = getattr(filters, column)
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if filters.segment:
        where.append("list_contains(segments, ?)")
        params.append(filters.segment)
    if filters.band is not None:
        kind, name = filters.band
        if kind not in SCORE_COLUMNS:
            raise ValueError(f"no score '{kind}'")
        where.append(f"list_contains(?::TINYINT[], {kind})")
        params.append(_band_values(kind, name))
    if filters.complete_only:
        where.append("complete")
    if filters.text:
        where.append("comment ILIKE ? ESCAPE '\\'")
        params.append(_like(filters.text))
    if filters.start is not None:
        where.append("started_at >= ?")
        params.append(filters.start)
    if filters.end is not None:
        where.append("started_at < ?")
        params.append(filters.end)
    condition = " AND ".join(where)
    with store.reading() as cur:
        found = cur.execute(f"SELECT count(*) FROM responses WHERE {condition}",
                            params).fetchone()
        rows = cur.execute(
            f"SELECT {_SELECT} FROM responses WHERE {condition} "
            "ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset]).fetchall()
    return [_row(r) for r in rows], int(found[0]) if found else 0


def tally(store: EventStore, workspace_id: int) -> dict[str, dict[str, int]]:
    """Per survey: responses, complete ones, and those that answer an invitation."""
    with store.reading() as cur:
        rows = cur.execute(
            "SELECT survey, count(*), count(*) FILTER (WHERE complete), count(invitation) "
            "FROM responses WHERE workspace_id = ? GROUP BY survey", [workspace_id]).fetchall()
    return {survey: {"responses": int(n), "complete": int(done), "invited": int(invited)}
            for survey, n, done, invited in rows}
