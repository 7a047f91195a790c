"""Generated event logs for the journey analytics' tests."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import duckdb
import numpy as np
import orjson
import pyarrow as pa

from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import Log, table_log

ACTIVITIES = [f"step_{c}" for c in "abcdefghij"]


def make_log(cases: int, seed: int) -> pa.Table:
    """Shuffled rows: case, activity, ts (many equal within a case), seq (the true order)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 12, cases)
    n = int(lengths.sum())
    case_of = np.repeat(np.arange(cases), lengths)
    weights = 1.0 / np.arange(1, len(ACTIVITIES) + 1) ** 1.2
    activity = rng.choice(len(ACTIVITIES), n, p=weights / weights.sum())
    # gaps of whole minutes, a third of them zero: equal timestamps inside cases
    gaps = rng.integers(0, 3, n) * rng.integers(1, 600, n) * 60
    first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    gaps[first] = rng.integers(0, 30 * 86400, cases)
    csum = np.cumsum(gaps)
    start_of_case = np.repeat(csum[first] - gaps[first], lengths)
    ts = np.datetime64("2024-01-01T00:00:00", "s") + (csum - start_of_case)
    seq = np.arange(n)
    order = rng.permutation(n)
    return pa.table({
        "case_id": pa.array([f"c{c:05d}" for c in case_of[order]]),
        "activity": pa.array([ACTIVITIES[a] for a in activity[order]]),
        "ts": pa.array(ts[order].astype("datetime64[us]")),
        "seq": pa.array(seq[order] * 7 % (n * 7)),  # not dense, still in the case's order
    })


def minutes_log(rows: list[tuple[str, str, int, int]]) -> tuple[DuckDBEngine, Log]:
    """A hand-made log in DuckDB: (case, activity, minute after 2026-01-01, seq) rows."""
    con = duckdb.connect()
    con.execute("CREATE TABLE t (case_id VARCHAR, activity VARCHAR, ts TIMESTAMP, seq BIGINT)")
    if rows:
        con.executemany("INSERT INTO t VALUES (?, ?, TIMESTAMP '2026-01-01' + to_minutes(?), ?)",
                        rows)
    return DuckDBEngine(con), table_log("t", seq="seq")


def promise_events(customers: int, seed: int) -> pa.Table:
    """The event store's columns: orders (an `order` key, delivery and installation
    properties) and their installations, complaints and replies, service contacts with a
    need, refused cancellations; March to May 2026 (Easter, May Day, Ascension inside),
    times in whole minutes (equal timestamps in a case), ids and seq in a shuffled ingest
    order, some customers in B2B accounts, some events after the moment judged."""
    rng = np.random.default_rng(seed)
    base = np.datetime64("2026-03-01T00:00", "m")
    rows: list[tuple[str, str, str | None, str, Any, dict[str, Any]]] = []
    channels_ = ["web", "email", "phone"]
    for c in range(customers):
        customer = f"c{c:04d}"
        account = f"a{c % 40:02d}" if c % 5 == 0 else None

        def add(type_: str, minute: int, customer: str = customer,
                account: str | None = account, **props: Any) -> None:
            rows.append((customer, type_, account, channels_[int(rng.integers(0, 3))],
                         base + np.timedelta64(int(minute), "m"), props))

        for o in range(int(rng.integers(0, 4))):
            start = int(rng.integers(0, 82 * 1440))
            order = f"o{c}-{o}"
            delivery = ["express", "standard"][int(rng.integers(0, 2))]
            props: dict[str, Any] = {"order": order, "delivery": delivery,
                                     "installation": bool(rng.random() < 0.7)}
            if rng.random() < 0.1:
                del props["delivery"]
            add("order_placed", start, **props)
            if rng.random() < 0.85:  # 0 to 100 h later, a few at the very same minute
                delay = 0 if rng.random() < 0.05 else int(rng.integers(0, 100 * 60))
                add("installed", start + delay,
                    **({"order": order} if rng.random() < 0.9 else {}))
            if rng.random() < 0.1:
                add("cancellation_refused", start + int(rng.integers(0, 40 * 1440)),
                    order=order)
        for _ in range(int(rng.integers(0, 3))):
            start = int(rng.integers(0, 82 * 1440))
            add("complaint", start)
            if rng.random() < 0.8:
                add("reply", start + (0 if rng.random() < 0.05
                                      else int(rng.integers(0, 60 * 60))))
        contact = int(rng.integers(0, 80 * 1440))
        for _ in range(int(rng.integers(0, 4))):
            add("service_contact", contact,
                reason=["damaged", "invoice", "delivery"][int(rng.integers(0, 3))])
            contact += int(rng.integers(0, 12 * 1440))
    order = rng.permutation(len(rows))
    seq = np.empty(len(rows), np.int64)
    seq[order] = np.arange(1, len(rows) + 1)
    stamps = [r[4].astype("datetime64[us]").item().replace(tzinfo=UTC) for r in rows]
    return pa.table({
        "workspace_id": pa.array([1] * len(rows), pa.int32()),
        "id": pa.array([f"e{s}" for s in seq]),
        "seq": pa.array(seq),
        "type": pa.array([r[1] for r in rows]),
        "customer": pa.array([r[0] for r in rows]),
        "account": pa.array([r[2] for r in rows], pa.string()),
        "channel": pa.array([r[3] for r in rows]),
        "touchpoint": pa.array([None] * len(rows), pa.string()),
        "occurred_at": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        "received_at": pa.array(stamps, pa.timestamp("us", tz="UTC")),
        "properties": pa.array([orjson.dumps(r[5]).decode() if r[5] else None
                                for r in rows], pa.string()),
    })


def promise_commitments() -> list[Any]:
    from kokemus.domain.promises import FirstContact, Never, Respond, Within

    return [
        Within.model_validate({
            "id": "express-installed", "text": "t", "start": "order_placed",
            "end": "installed", "within": "48h", "match": "order", "at_risk": 0.5,
            "where": {"delivery": "express", "installation": [True]},
            "channels": ["web", "phone"]}),
        Within.model_validate({
            "id": "installed", "text": "t", "start": "order_placed", "end": "installed",
            "within": "3d", "segments": ["families"], "where": {"delivery": ["standard"]}}),
        Respond.model_validate({
            "id": "reply-working-day", "text": "t", "kind": "respond", "start": "complaint",
            "end": "reply", "within": "8h", "business_hours": True}),
        Respond.model_validate({
            "id": "account-reply", "text": "t", "kind": "respond", "start": "complaint",
            "end": ["reply", "installed"], "within": "16h", "business_hours": True,
            "case": "account"}),
        Respond.model_validate({
            "id": "reply-2h", "text": "t", "kind": "respond", "start": "complaint",
            "end": "reply", "within": "2h"}),
        FirstContact.model_validate({
            "id": "first-contact", "text": "t", "kind": "first_contact",
            "event": "service_contact", "need": "reason", "within": "7d",
            "channels": ["web", "email"]}),
        Never.model_validate({
            "id": "no-refusal", "text": "t", "kind": "never", "event": "cancellation_refused",
            "start": "order_placed", "within": "30d", "match": "order",
            "where": {"installation": True}}),
        Never.model_validate({
            "id": "no-refusal-ever", "text": "t", "kind": "never",
            "event": "cancellation_refused", "at_most": 1, "segments": ["families"]}),
    ]
