"""A period's occurrences are the whole store's occurrences that start in it, with the same
verdicts: the evaluation reads only the events a period's starts can meet (from its first
start on; a window before it for first contacts), and that must change no answer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.promises import Scope, occurrences
from kokemus.domain.business_hours import BusinessHours
from tests.analytics.generated import promise_commitments, promise_events

AS_OF = datetime(2026, 5, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine() -> Iterator[DuckDBEngine]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    events = promise_events(600, seed=23)  # noqa: F841 (read by DuckDB)
    con.execute("CREATE TABLE events AS SELECT * FROM events")
    yield DuckDBEngine(con)
    con.close()


def rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: (str(r["occurrence"]), str(r["case_id"])))


@pytest.mark.parametrize("since, until", [
    (datetime(2026, 4, 1, tzinfo=UTC), None),
    (datetime(2026, 4, 3, 13, 17, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC)),
    (AS_OF - timedelta(days=9), None),
])
def test_a_period_is_the_whole_store_cut_at_its_starts(
        engine: DuckDBEngine, since: datetime, until: datetime | None) -> None:
    members = {"families": [f"c{c:04d}" for c in range(0, 600, 3)]}
    for commitment in promise_commitments():
        whole = occurrences(engine, Scope(1, AS_OF), "p", commitment, members=members,
                            calendar=BusinessHours())
        period = occurrences(engine, Scope(1, AS_OF, since=since, until=until), "p",
                             commitment, members=members, calendar=BusinessHours())
        starts = whole["start_ts"]
        keep = pc.greater_equal(starts, pa.scalar(since, pa.timestamp("us", tz="UTC")))
        if until is not None:
            keep = pc.and_(keep, pc.less(starts, pa.scalar(until, pa.timestamp("us", tz="UTC"))))
        assert period.num_rows > 0, commitment.id
        assert rows(period) == rows(whole.filter(keep)), commitment.id
