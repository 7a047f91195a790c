"""Engines that run the analytics' SQL: the embedded DuckDB, or Apache Spark.

An analysis is written once as SQL over a log relation (case_id, activity, ts, seq, ...).
The few constructs that differ between engines (an ordered list aggregate, quantiles,
seconds between timestamps) come from the engine's `Dialect`, so the queries themselves
stay the same on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class Dialect:
    name: str

    def seconds_between(self, start: str, end: str) -> str:
        if self.name == "spark":
            return f"(unix_micros({end}) - unix_micros({start})) / 1e6"
        return f"(epoch_us({end}) - epoch_us({start})) / 1e6"

    def quantile(self, expr: str, q: float, exact: bool = True) -> str:
        if self.name == "spark":
            return f"percentile_approx({expr}, {q}, 10000)"
        return f"quantile_cont({expr}, {q})" if exact else f"approx_quantile({expr}, {q})"

    def json_text(self, column: str, key: str) -> str:
        """The text at top-level `key` of the JSON text in `column` (NULL when absent)."""
        if not key.replace("_", "").isalnum():
            raise ValueError(f"not a plain JSON key: {key!r}")
        if self.name == "spark":
            return f"get_json_object({column}, '$.{key}')"
        return f"({column} ->> '{key}')"

    def ordered_list(self, expr: str, order: str) -> str:
        """The values of `expr` in a group as a list ordered by the comma-separated `order`."""
        if self.name == "spark":
            keys = ", ".join(f"{o.strip()} AS k{i}" for i, o in enumerate(order.split(",")))
            return (f"transform(array_sort(collect_list(named_struct({_spark_struct(keys)}, "
                    f"'v', {expr}))), x -> x.v)")
        return f"list({expr} ORDER BY {order})"


def _spark_struct(keys: str) -> str:
    parts = []
    for item in keys.split(", "):
        value, name = item.rsplit(" AS ", 1)
        parts.append(f"'{name}', {value}")
    return ", ".join(parts)


class Engine(Protocol):
    dialect: Dialect

    def query(self, sql: str) -> pa.Table: ...


class DuckDBEngine:
    """Runs on a DuckDB connection (the event store's, or one opened on files)."""

    dialect = Dialect("duckdb")

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def query(self, sql: str) -> pa.Table:
        result: pa.Table = self.connection.sql(sql).to_arrow_table()
        return result
