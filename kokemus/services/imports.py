"""File imports (JSONL or CSV, a path or '-' for stdin): streamed in chunks, nothing kept
in memory but a chunk, good rows stored, bad rows written to a reject file with the reason."""

from __future__ import annotations

import csv
import gc
import io
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson
import pyarrow as pa
from sqlalchemy import Engine

from kokemus.services import ingest
from kokemus.services.ingest import Outcome, Rejected
from kokemus.services.workspaces import ActiveWorkspace
from kokemus.storage.events import EventStore

Kind = Literal["events", "customers", "accounts"]
CHUNK = 50_000
LIST_FIELDS = {"segments"}  # CSV cells holding several values separated by ';'


@dataclass
class ImportResult:
    outcome: Outcome
    rows: int
    rejects_path: Path | None


def _format(path: str, explicit: str | None) -> str:
    if explicit:
        return explicit
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _csv_item(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row as the JSON item it stands for: empty cells left out, 'properties.x' and
    'attributes.x' columns nested, a 'properties' cell read as JSON, lists split on ';'."""
    item: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        if "." in key:
            outer, inner = key.split(".", 1)
            item.setdefault(outer, {})[inner] = value
        elif key in {"properties", "attributes"}:
            try:
                item[key] = orjson.loads(value)
            except orjson.JSONDecodeError:
                item[key] = value  # not an object: validation rejects the row and says so
        elif key in LIST_FIELDS:
            item[key] = [v.strip() for v in value.split(";") if v.strip()]
        else:
            item[key] = value
    return item


def _chunks(stream: IO[bytes], fmt: str) -> Iterator[tuple[list[Any], list[bytes], int]]:
    """(items, raw lines, bytes read so far) per chunk; items are raw JSON text or dicts."""
    done = 0
    if fmt == "jsonl":
        items: list[Any] = []
        for line in stream:
            done += len(line)
            items.append(line)
            if len(items) == CHUNK:
                yield items, items, done
                items = []
        if items:
            yield items, items, done
        return
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    reader = csv.DictReader(text)
    items, raws = [], []
    for row in reader:
        raw = ",".join(v or "" for v in row.values()).encode()
        done += len(raw) + 1
        items.append(_csv_item(row))
        raws.append(raw)
        if len(items) == CHUNK:
            yield items, raws, done
            items, raws = [], []
    if items:
        yield items, raws, done


def import_file(
    kind: Kind,
    path: str,
    workspace: ActiveWorkspace,
    *,
    db: Engine,
    events: EventStore,
    fmt: str | None = None,
    rejects: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import `path`; the first line of a JSONL file is line 1, of a CSV file the header."""
    fmt = _format(path, fmt)
    if fmt not in {"jsonl", "csv"}:
        raise ValueError(f"unknown format '{fmt}'; use jsonl or csv")
    rejects = rejects or Path("kokemus-rejects.jsonl" if path == "-" else f"{path}.rejects.jsonl")
    first_line = 2 if fmt == "csv" else 1
    total = Outcome()
    rows = 0
    stream: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    reject_file: IO[bytes] | None = None
    # the previous chunk of events, being written while the next one is validated
    writing: tuple[Future[set[str]], pa.Table, list[Rejected], list[Any], int, int] | None = None

    def record(outcome: Outcome, raws: list[Any], first_row: int, done: int) -> None:
        nonlocal reject_file
        if outcome.rejected:
            if reject_file is None:
                reject_file = open(rejects, "wb")  # noqa: SIM115
            _write_rejects(reject_file, outcome.rejected, raws, first_row + first_line)
        total.add(outcome, offset=first_row)
        if progress:
            progress(done)

    def finish() -> None:
        if writing is not None:
            future, batch, rejected, raws, first_row, done = writing
            record(ingest.outcome(batch, future.result(), rejected), raws, first_row, done)

    # Chunks are garbage-free (no reference cycles): the cycle collector would only walk
    # the ever larger heap of a big import, again and again, for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for items, raws, done in _chunks(stream, fmt):
            if kind == "events":
                _, good, rejected = ingest.validate_events(items, workspace)
                batch = ingest.to_batch(good, workspace)
                future = events.submit(batch)  # written while the next chunk is validated
                finish()
                writing = (future, batch, rejected, raws, rows, done)
            else:
                if kind == "customers":
                    outcome = ingest.ingest_customers(items, workspace, db)
                else:
                    outcome = ingest.ingest_accounts(items, workspace, db)
                record(outcome, raws, rows, done)
            rows += len(items)
        finish()
        writing = None
    finally:
        if writing is not None:  # an error: let the chunk in flight land before closing
            writing[0].exception()
        if collecting:
            gc.enable()
        if stream is not sys.stdin.buffer:
            stream.close()
        if reject_file is not None:
            reject_file.close()
    return ImportResult(total, rows, rejects if total.rejected else None)


def _write_rejects(out: IO[bytes], rejected: list[Rejected], raws: list[bytes], first: int) -> None:
    for r in rejected:
        raw = raws[r.index]
        text = raw.decode("utf-8", "replace").rstrip("\r\n") if isinstance(raw, bytes) else str(raw)
        out.write(orjson.dumps({"line": first + r.index, "reason": r.reason, "input": text}))
        out.write(b"\n")
