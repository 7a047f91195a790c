"""Engines that run the analytics' SQL: the embedded DuckDB, or Apache Spark.

An analysis is written once as SQL over a log relation (case_id, activity, ts, seq, ...).
The few constructs that differ between engines (an ordered list aggregate, quantiles,
seconds between timestamps) come from the engine's `Dialect`, so the queries themselves
stay the same on every engine.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class Dialect:
    name: str

    def seconds_between(self, start: str, end: str) -> str:
        if self.name == "spark":
            return f"(unix_micros({end}) - unix_micros({start})) / 1e6"
        return f"(epoch_us({end}) - epoch_us({start})) / 1e6"

    def epoch(self, expr: str) -> str:
        """Seconds since 1970-01-01 UTC of the timestamp `expr`, a DOUBLE."""
        if self.name == "spark":
            return f"(unix_micros({expr}) / 1e6)"
        return f"(epoch_us({expr}) / 1e6)"

    def quantile(self, expr: str, q: float, exact: bool = True) -> str:
        """The `q` quantile of `expr` in a group, a DOUBLE. Exact: linear interpolation
        between the closest ranks, lo + (hi - lo) * (rn - floor(rn)) with rn = (n - 1) * q,
        DuckDB's quantile_cont; Spark spells out the same arithmetic (its `percentile`
        interpolates as (1 - f) * lo + f * hi, which can differ in the last bit)."""
        if self.name == "spark":
            if not exact:
                return f"percentile_approx(CAST({expr} AS DOUBLE), {float(q)!r}D, 10000)"
            return _spark_quantile_cont(expr, float(q))
        return f"quantile_cont({expr}, {q})" if exact else f"approx_quantile({expr}, {q})"

    def length(self, expr: str) -> str:
        """The number of elements of a list, a BIGINT on both engines."""
        if self.name == "spark":
            return f"CAST(size({expr}) AS BIGINT)"
        return f"len({expr})"

    def bucket(self, expr: str, buckets: int, bucket: int) -> str:
        """True for the rows whose `expr` hashes into `bucket` of `buckets`."""
        if self.name == "spark":
            return f"pmod(hash({expr}), {int(buckets)}) = {int(bucket)}"
        return f"hash({expr}) % {int(buckets)} = {int(bucket)}"

    def json_text(self, column: str, key: str) -> str:
        """The text at top-level `key` of the JSON text in `column` (NULL when absent)."""
        if not key.replace("_", "").isalnum():
            raise ValueError(f"not a plain JSON key: {key!r}")
        if self.name == "spark":
            return f"get_json_object({column}, '$.{key}')"
        return f"({column} ->> '{key}')"

    def json_texts(self, column: str, keys: Sequence[str]) -> tuple[str, list[str]]:
        """The texts at several top-level `keys` of the JSON text in `column`, parsed once:
        an expression to select as `json_texts` in a subquery, and the expressions that
        read each key's text from it in the query above (NULL when absent)."""
        for key in keys:
            if not key.replace("_", "").isalnum():
                raise ValueError(f"not a plain JSON key: {key!r}")
        if self.name == "spark":  # get_json_object per key: Spark has no many-path form
            texts = ", ".join(f"get_json_object({column}, '$.{k}')" for k in keys)
            return f"array({texts})", [f"json_texts[{i}]" for i in range(len(keys))]
        paths = ", ".join(f"'$.{k}'" for k in keys)
        return (f"json_extract_string({column}, [{paths}])",
                [f"json_texts[{i + 1}]" for i in range(len(keys))])

    def any_present(self, texts: str) -> str:
        """True when the list `texts` (of `json_texts`) holds a value: one reference to the
        list, so the parse is not repeated per key as an OR of its items would be."""
        if self.name == "spark":
            return f"exists({texts}, x -> x IS NOT NULL)"
        return f"list_aggregate({texts}, 'count') > 0"

    def materialized(self) -> str:
        """The CTE keyword that computes a relation used twice once (DuckDB); Spark plans its
        own reuse."""
        return "" if self.name == "spark" else "MATERIALIZED"

    def time_order(self, ts: str, seq: str) -> str:
        """One value that orders rows by the timestamp `ts`, then the BIGINT `seq`, e.g. for
        max_by(v, time_order(ts, seq)): the value of the latest row in (time, seq) order.
        On DuckDB a HUGEINT, microseconds x 2^64 + seq, exact for every timestamp and
        every BIGINT (|seq| < 2^63), which max_by compares as one number (a (ts, seq)
        struct, compared field by field, cost the 1M-response worst-group search about 1 s
        of CPU more); on Spark a struct."""
        if self.name == "spark":
            return f"struct({ts}, {seq})"
        return f"(CAST(epoch_us({ts}) AS HUGEINT) * {2 ** 64} + {seq})"

    def ordered_list(self, expr: str, order: str) -> str:
        """The values of `expr` in a group as a list ordered by the comma-separated `order`
        (ascending, NULLS LAST as DuckDB's default; ties keep no particular order on DuckDB,
        so the order should be total, e.g. "ts, seq")."""
        if self.name == "spark":
            # array_sort on structs compares field by field: (is null, key) per key, then the
            # value; collect_list keeps a NULL value since its struct is not NULL.
            fields = []
            for i, key in enumerate(_order_keys(order)):
                fields.append(f"'n{i}', ({key}) IS NULL, 'k{i}', {key}")
            return (f"transform(array_sort(collect_list(named_struct({', '.join(fields)}, "
                    f"'v', {expr}))), x -> x.v)")
        return f"list({expr} ORDER BY {order})"


def _order_keys(order: str) -> list[str]:
    """The keys of an ORDER BY list, split at top-level commas; ascending keys only."""
    keys, depth, start = [], 0, 0
    for i, char in enumerate(order + ","):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            keys.append(order[start:i].strip())
            start = i + 1
    for key in keys:
        words = key.upper().split()
        if not key or (words and words[-1] in {"DESC", "ASC", "FIRST", "LAST"}):
            raise ValueError(f"ordered_list takes plain ascending keys, not {key!r}")
    return keys


def _spark_quantile_cont(expr: str, q: float) -> str:
    """DuckDB's quantile_cont in Spark SQL: sort the group's values, take the two closest
    ranks lo and hi (rn = (n - 1) * q), and interpolate with the same floating-point
    operations as the DuckDB in use (see `_duckdb_interpolation`)."""
    lo = "element_at(qv, CAST(floor(qr) AS INT) + 1)"
    hi = "element_at(qv, CAST(ceil(qr) AS INT) + 1)"
    d = "(qr - floor(qr))"
    between = {
        "fused": f"CAST(reflect('java.lang.Math', 'fma', 1D - {d}, {lo}, {hi} * {d}) AS DOUBLE)",
        "plain": f"{lo} * (1D - {d}) + {hi} * {d}",
        "delta": f"{lo} + ({hi} - {lo}) * {d}",
    }[_duckdb_interpolation()]
    return (
        f"element_at(transform(array(array_sort(collect_list(CAST({expr} AS DOUBLE)))), "
        f"qv -> CASE WHEN size(qv) = 0 THEN CAST(NULL AS DOUBLE) ELSE element_at(transform("
        f"array(CAST(size(qv) - 1 AS DOUBLE) * {q!r}D), qr -> CASE WHEN floor(qr) = ceil(qr) "
        f"THEN {lo} ELSE {between} END), 1) END), 1)"
    )


@functools.cache
def _duckdb_interpolation() -> str:
    """How DuckDB's quantile_cont rounds between lo and hi at fraction d. Its source says
    lo * (1 - d) + hi * d, which a compiler may fuse into fma(1 - d, lo, hi * d) (one
    rounding fewer; the Linux x86-64 wheels do), and older releases had lo + (hi - lo) * d.
    The three differ in the last bit for some inputs; one such input tells them apart."""
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.sql("SELECT quantile_cont(x, 0.1) FROM (VALUES (-13.45::DOUBLE), "
                       "(62.78::DOUBLE)) AS t(x)").fetchall()
    finally:
        con.close()
    found: float = rows[0][0]
    return {-5.826999999999999: "fused", -5.827: "plain",
            -5.826999999999998: "delta"}.get(found, "fused")


class Engine(Protocol):
    dialect: Dialect

    def query(self, sql: str) -> pa.Table: ...

    def view(self, name: str, table: pa.Table) -> AbstractContextManager[None]:
        """`table` as the temporary view `name` while the block runs: data made in Python
        (thousands of rows) joins in the engine without being written into the SQL."""
        ...


class DuckDBEngine:
    """Runs on a DuckDB connection (the event store's, or one opened on files)."""

    dialect = Dialect("duckdb")

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def query(self, sql: str) -> pa.Table:
        result: pa.Table = self.connection.sql(sql).to_arrow_table()
        return result

    @contextmanager
    def view(self, name: str, table: pa.Table) -> Iterator[None]:
        self.connection.register(name, table)
        try:
            yield
        finally:
            self.connection.unregister(name)


class SparkEngine:
    """Runs on a SparkSession (local, or against a cluster): `spark.sql(sql)` as Arrow.

    The session is set up so the analytics' SQL means what it means on DuckDB: UTC session
    time zone, TIMESTAMP is the time-zone-less TIMESTAMP_NTZ (DuckDB's TIMESTAMP; a Parquet
    TIMESTAMPTZ column still reads as Spark's TIMESTAMP, which is DuckDB's TIMESTAMPTZ),
    "double quoted" names are identifiers, and Arrow strings are plain (not large) strings.
    Spark's string literals still read a backslash as an escape (DuckDB's do not): with
    spark.sql.parser.escapedStringLiterals they would not, but then '' is no longer a quote.
    """

    dialect = Dialect("spark")
    SETTINGS: ClassVar[dict[str, str]] = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.ansi.doubleQuotedIdentifiers": "true",
        "spark.sql.execution.arrow.useLargeVarTypes": "false",
    }

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        for key, value in self.SETTINGS.items():
            spark.conf.set(key, value)

    def register(self, name: str, path: str, format: str = "parquet") -> None:
        """Make the data at `path` (Parquet files or folder, a Delta table, ...) the temporary
        view `name`, so the analytics' SQL reads it as a table."""
        self.spark.read.format(format).load(path).createOrReplaceTempView(name)

    def register_events(self, path: str, format: str = "parquet") -> None:
        """The event store's events (e.g. `export_events`' Parquet) as the view `events`."""
        self.register("events", path, format)

    def query(self, sql: str) -> pa.Table:
        return _nullable(self.spark.sql(sql).toArrow())

    @contextmanager
    def view(self, name: str, table: pa.Table) -> Iterator[None]:
        self.spark.createDataFrame(table).createOrReplaceTempView(name)
        try:
            yield
        finally:
            self.spark.catalog.dropTempView(name)


def export_events(connection: Any, path: str, where: str | None = None) -> None:
    """Write the DuckDB event store's events (those meeting `where`) to one Parquet file, for
    Spark: occurred_at stays a UTC instant, seq the store's sequence."""
    query = "SELECT * FROM events" + (f" WHERE {where}" if where else "")
    target = path.replace("'", "''")
    connection.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet)")


def _nullable_type(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        item = pa.field(kind.value_field.name, _nullable_type(kind.value_type))
        return pa.list_(item) if pa.types.is_list(kind) else pa.large_list(item)
    if pa.types.is_struct(kind):
        return pa.struct([pa.field(f.name, _nullable_type(f.type)) for f in kind])
    return kind


def _nullable(table: pa.Table) -> pa.Table:
    """Spark marks some result columns NOT NULL; DuckDB's results never are. Drop the marks,
    so equal results are equal Arrow tables."""
    schema = pa.schema([pa.field(f.name, _nullable_type(f.type)) for f in table.schema])
    return table if schema.equals(table.schema) else table.cast(schema)
