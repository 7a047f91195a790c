"""File imports (JSONL or CSV, a path or '-' for stdin): streamed in chunks, nothing kept
in memory but a chunk, good rows stored, bad rows written to a reject file with the reason."""

from __future__ import annotations

import csv
import gc
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


def _chunks(stream: IO[bytes],
            fmt: str) -> Iterator[tuple[list[Any], list[bytes], list[int], int]]:
    """(items, raw lines, their line numbers, bytes read so far) per chunk; items are raw
    JSON text, dicts, or Unreadable rows (rejected with their reason like any bad item)."""
    done = 0
    if fmt == "jsonl":
        items: list[Any] = []
        numbers: list[int] = []
        for number, line in enumerate(stream, start=1):
            done += len(line)
            items.append(line)
            numbers.append(number)
            if len(items) == CHUNK:
                yield items, items, numbers, done
                items, numbers = [], []
        if items:
            yield items, items, numbers, done
        return
    yield from _csv_chunks(stream)


# A CSV row as a person reads it in the reject file: long inputs are cut to this many characters.
_SHOWN = 1_000


def _csv_chunks(stream: IO[bytes]) -> Iterator[tuple[list[Any], list[bytes], list[int], int]]:
    """CSV rows as items, with the line each starts on. A bad row is rejected like a bad
    JSONL line, and the rest are read on: its lines are read as bytes and decoded one by
    one, so a line that is not UTF-8, or longer than csv's field limit (which would stop
    the csv module altogether), stands in for its row as a short placeholder, and the row
    it belongs to becomes Unreadable with the reason."""
    limit = csv.field_size_limit()
    unreadable: dict[int, str] = {}  # line number -> why
    state = {"done": 0}

    def lines() -> Iterator[str]:
        for number, raw in enumerate(stream, start=1):
            state["done"] += len(raw)
            if len(raw) > limit:
                unreadable[number] = (f"the line is {len(raw)} bytes, more than the {limit} "
                                      "a CSV field may hold")
                yield "\n"
                continue
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                unreadable[number] = (f"not valid UTF-8: byte {raw[exc.start]:#04x} at "
                                      f"column {exc.start + 1}")
                yield raw.decode("utf-8", "replace")

    reader = csv.reader(lines())
    header: list[str] | None = None
    items: list[Any] = []
    raws: list[bytes] = []
    numbers: list[int] = []
    last = 0  # the last line of the previous row
    while True:
        row: list[str] | None
        problem: str | None = None
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a field over the limit across many short lines
            row, problem = None, f"not a CSV row: {exc}"
        first, last = last + 1, reader.line_num
        problem = problem or next((unreadable.pop(n) for n in range(first, last + 1)
                                   if n in unreadable), None)
        if header is None:
            if problem or row is None:
                raise ValueError(f"line {first}: the CSV header cannot be read: {problem}")
            header = row
            continue
        if row == [] and problem is None:
            continue  # a blank line, skipped as csv.DictReader does
        text = ",".join(row or [])
        raws.append((text[:_SHOWN] + "…" if len(text) > _SHOWN else text).encode())
        numbers.append(first)
        if problem is not None or row is None:
            items.append(ingest.Unreadable(problem or "not a CSV row"))
        else:
            items.append(_csv_item(dict(zip(header, row, strict=False))))
        if len(items) == CHUNK:
            yield items, raws, numbers, state["done"]
            items, raws, numbers = [], [], []
    if items:
        yield items, raws, numbers, state["done"]


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
    """Import `path`; the first line of a JSONL file is line 1, of a CSV file the header.
    A CSV row is reported by the line it starts on."""
    fmt = _format(path, fmt)
    if fmt not in {"jsonl", "csv"}:
        raise ValueError(f"unknown format '{fmt}'; use jsonl or csv")
    rejects = rejects or Path("kokemus-rejects.jsonl" if path == "-" else f"{path}.rejects.jsonl")
    total = Outcome()
    rows = 0
    stream: IO[bytes] = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    reject_file: IO[bytes] | None = None
    # the previous chunk of events, being written while the next one is validated
    writing: tuple[Future[set[str]], pa.Table, list[Rejected], list[Any], list[int], int,
                   int] | None = None

    def record(outcome: Outcome, raws: list[Any], numbers: list[int], first_row: int,
               done: int) -> None:
        nonlocal reject_file
        if outcome.rejected:
            if reject_file is None:
                reject_file = open(rejects, "wb")  # noqa: SIM115
            _write_rejects(reject_file, outcome.rejected, raws, numbers)
        total.add(outcome, offset=first_row)
        if progress:
            progress(done)

    def finish() -> None:
        if writing is not None:
            future, batch, rejected, raws, numbers, first_row, done = writing
            record(ingest.outcome(batch, future.result(), rejected), raws, numbers, first_row,
                   done)

    # Chunks are garbage-free (no reference cycles): the cycle collector would only walk
    # the ever larger heap of a big import, again and again, for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for items, raws, numbers, done in _chunks(stream, fmt):
            if kind == "events":
                _, good, rejected = ingest.validate_events(items, workspace)
                batch = ingest.to_batch(good, workspace)
                future = events.submit(batch)  # written while the next chunk is validated
                finish()
                writing = (future, batch, rejected, raws, numbers, rows, done)
            else:
                if kind == "customers":
                    outcome = ingest.ingest_customers(items, workspace, db)
                else:
                    outcome = ingest.ingest_accounts(items, workspace, db)
                record(outcome, raws, numbers, rows, done)
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


def _write_rejects(out: IO[bytes], rejected: list[Rejected], raws: list[bytes],
                   numbers: list[int]) -> None:
    for r in rejected:
        raw = raws[r.index]
        text = raw.decode("utf-8", "replace").rstrip("\r\n") if isinstance(raw, bytes) else str(raw)
        out.write(orjson.dumps({"line": numbers[r.index], "reason": r.reason, "input": text}))
        out.write(b"\n")
