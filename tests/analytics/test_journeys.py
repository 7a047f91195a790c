"""The DFG over groups of whole cases equals the DFG in one window."""

from __future__ import annotations

import duckdb

from kokemus.analytics import journeys
from kokemus.analytics.engines import DuckDBEngine
from kokemus.analytics.logs import table_log
from tests.analytics.generated import make_log


def test_dfg_in_groups_of_cases_is_the_same() -> None:
    con = duckdb.connect()
    log_table = make_log(3000, seed=11)  # noqa: F841  (DuckDB reads it by name)
    con.execute("CREATE TABLE log AS SELECT * FROM log_table")
    engine = DuckDBEngine(con)
    log = table_log("log", seq="seq")
    whole = journeys.dfg(engine, log, groups=1)
    assert whole.num_rows > 50
    for groups in (2, 7):
        assert journeys.dfg(engine, log, groups=groups).equals(whole)
    assert journeys.dfg(engine, log).equals(whole)  # small: one group by default
