"""Import a process-mining event log (a CSV or Parquet export) as events of a workspace.

A log has one row per event with a case, an activity and a timestamp, in columns the caller
names. Each row becomes an event of the workspace, so the journey analytics (DFG, variants,
conformance) run on it like on any other events:

- customer = the case; touchpoint = type = the activity as a touchpoint id (a slug:
  lower case, accents dropped, other characters '_'; see `LogImport.touchpoints`); the
  original activity name, the file's row number and the file's other columns are kept in
  the event's properties;
- channel = `channel` ("log" unless given; it need not be declared in the workspace);
- occurred_at = the timestamp; a timestamp without a time zone is taken as UTC;
- id = a hash of (case, activity, timestamp, row number), so importing the same file again
  stores nothing twice;
- equal timestamps within a case keep the file's row order: rows are stored in that order,
  and the event store's sequence number follows it.

The file is read and converted inside DuckDB (read_csv / read_parquet) and handed to the
event store in Arrow batches: no Python loop over rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from kokemus.analytics.logs import literal
from kokemus.domain.errors import KokemusError
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.events import SCHEMA, EventStore

BATCH = 100_000
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}


@dataclass(frozen=True)
class LogImport:
    """What an import did, with the figures of the file's log to check it against."""

    rows: int  # data rows in the file
    stored: int  # events stored now
    duplicates: int  # rows an earlier import stored already
    skipped: int  # rows without a case, an activity or a readable timestamp
    cases: int  # distinct cases among the rows imported (stored or duplicate)
    activities: int  # distinct activities among them
    touchpoints: dict[str, str] = field(default_factory=dict)  # activity -> touchpoint id


def _format(path: str, fmt: str | None) -> str:
    if fmt:
        if fmt not in {"csv", "parquet"}:
            raise KokemusError(f"unknown log format '{fmt}'; use csv or parquet")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise KokemusError(f"cannot tell the format of {path}; name it (csv or parquet)")
    return _FORMATS[suffix]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def import_log(
    path: str | Path,
    *,
    case: str,
    activity: str,
    timestamp: str,
    workspace: ActiveWorkspace,
    events: EventStore,
    fmt: str | None = None,
    channel: str = "log",
) -> LogImport:
    """Store the event log in `path` as events of `workspace` (see the module's docstring).

    path: a CSV file (with a header line) or a Parquet file; fmt: "csv" or "parquet", by
    default from the file's suffix (.csv/.tsv/.txt, .parquet/.pq).
    case, activity, timestamp: the names of the columns holding them, e.g.
    "case:concept:name", "concept:name", "time:timestamp" in a pm4py export.
    events: the event store the events go to.
    Raises KokemusError when the file cannot be read or lacks a named column.
    """
    path = str(path)
    fmt = _format(path, fmt)
    if not _CHANNEL.match(channel) or len(channel) > 64:
        raise KokemusError(f"channel '{channel}' is not an id (a-z, 0-9, '_', '-')")
    if not Path(path).is_file():
        raise KokemusError(f"no such file: {path}")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        return _import(con, path, fmt, case, activity, timestamp, workspace, events, channel)
    finally:
        con.close()


def _import(con: Any, path: str, fmt: str, case: str, activity: str, timestamp: str,
            workspace: ActiveWorkspace, events: EventStore, channel: str) -> LogImport:
    named = (case, activity, timestamp)
    if fmt == "csv":
        # case and activity as text: an id like 00123 must not become the number 123
        types = ", ".join(f"{literal(c)}: 'VARCHAR'" for c in (case, activity))
        source = f"read_csv({literal(path)}, header = true, types = {{{types}}})"
    else:
        source = f"read_parquet({literal(path)})"
    try:
        columns = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    except duckdb.Error as exc:
        raise KokemusError(f"cannot read {path} as {fmt}: {exc}") from None
    missing = [c for c in named if c not in columns]
    if missing:
        raise KokemusError(f"no column {', '.join(repr(m) for m in missing)} in {path} "
                           f"(columns: {', '.join(columns)})")
    extras = [c for c in columns if c not in named and c not in {"activity", "row"}]
    kept = ", ".join(f"{_ident(c)} := {_ident(c)}" for c in extras)
    con.execute(f"""
        CREATE TEMP TABLE staged AS
        SELECT row_number() OVER () AS rn,
               nullif(trim(CAST({_ident(case)} AS VARCHAR)), '') AS case_id,
               nullif(CAST({_ident(activity)} AS VARCHAR), '') AS activity,
               TRY_CAST({_ident(timestamp)} AS TIMESTAMPTZ) AS occurred_at,
               {f"struct_pack({kept})" if extras else "NULL"} AS extras
        FROM {source}
    """)
    con.execute("""
        CREATE TEMP TABLE touchpoints AS
        WITH named AS (
            SELECT activity, left(trim(regexp_replace(lower(strip_accents(activity)),
                                                      '[^a-z0-9_-]+', '_', 'g'), '_-'), 56)
                             AS base
            FROM (SELECT DISTINCT activity FROM staged WHERE activity IS NOT NULL)
        )
        SELECT activity,
               CASE WHEN base = '' THEN 'activity-' || left(md5(activity), 7)
                    WHEN count(*) OVER (PARTITION BY base) > 1
                         THEN base || '-' || left(md5(activity), 7)
                    ELSE base END AS touchpoint
        FROM named
    """)
    valid = ("case_id IS NOT NULL AND length(case_id) <= 200 AND activity IS NOT NULL "
             "AND occurred_at IS NOT NULL")
    rows, good, cases, activities = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE {valid}),
               count(DISTINCT case_id) FILTER (WHERE {valid}),
               count(DISTINCT activity) FILTER (WHERE {valid})
        FROM staged
    """).fetchall()[0]
    properties = "json_object('activity', s.activity, 'row', s.rn)"
    if extras:
        properties = f"json_merge_patch({properties}, to_json(s.extras))"
    reader = con.sql(f"""
        SELECT CAST({int(workspace.id)} AS INTEGER) AS workspace_id,
               'log-' || md5(concat_ws(chr(31), s.case_id, s.activity,
                                       CAST(epoch_us(s.occurred_at) AS VARCHAR),
                                       CAST(s.rn AS VARCHAR))) AS id,
               t.touchpoint AS type,
               s.case_id AS customer,
               CAST(NULL AS VARCHAR) AS account,
               {literal(channel)} AS channel,
               t.touchpoint AS touchpoint,
               s.occurred_at,
               CAST({properties} AS VARCHAR) AS properties
        FROM (SELECT * FROM staged WHERE {valid}) AS s
        JOIN touchpoints AS t ON t.activity = s.activity
        ORDER BY s.rn
    """).to_arrow_reader(BATCH)
    stored = 0
    pending = None
    for batch in reader:
        table = pa.Table.from_batches([batch]).cast(SCHEMA)
        future = events.submit(table)  # written while the next batch is converted
        if pending is not None:
            stored += len(pending.result())
        pending = future
    if pending is not None:
        stored += len(pending.result())
    mapping = dict(con.execute("SELECT activity, touchpoint FROM touchpoints "
                               "ORDER BY activity").fetchall())
    return LogImport(rows=int(rows), stored=stored, duplicates=int(good) - stored,
                     skipped=int(rows) - int(good), cases=int(cases),
                     activities=int(activities), touchpoints=mapping)
