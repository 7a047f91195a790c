"""Break down any figure by anything the data knows, and filter it the same way.

A breakdown (or a filter's left side) is written as text, one definition for every figure
(scores, keep rates, journey drop-off) and every interface (page, CLI, API):

- a figure's own groups: `touchpoint`, `channel`, `segment`, `account`, `role`, `survey`,
  `week`, `month` (scores), `channel`, `segment`, `department`, `week`, `month` (keep rates);
- `property:<name>`: a property of the events (e.g. `property:carrier`);
- `attribute:<name>`: a customer's attribute (the app store's customers.attributes, and
  `language` and `role`);
- `event:<type>`: whether the customer's journey had that event, `yes` or `no`.

A filter is `<breakdown>=<value>` (`property:carrier=Kiito`, `event:delivery_damaged=yes`);
several filters all hold.

Which event's property a figure takes (the one rule every figure keeps): each thing counted
(a response, a promise occurrence, a journey) has a customer (or a B2B account), perhaps an
event it came from, and a moment `at`:

- a response: its triggering event (responses.event_id), at = when it was started;
- a promise occurrence: its start event, at = its end (the closing event), or, while it is
  open or broken for want of one, the moment its verdict is read (as_of);
- a journey (drop-off): no event of its own, at = the clock of the analysis.

`property:<name>` is the property of that event when it has it; otherwise the property of
the customer's latest event carrying it at or before `at` (in (time, seq) order). So an
answer about an installation takes the carrier of the delivery before it, and an
occurrence of "installed within 48 h of the order" the carrier that delivered that order.
`event:<type>` is `yes` when the customer had an event of that type at or before `at`.
`attribute:<name>` is the customer's attribute as it is now. A thing with no value for a
breakdown is in the overall figures but in no group.

Groups: each with its n and 95% interval; groups smaller than the workspace's minimum n
(and those beyond the largest MAX_GROUPS) are pooled into one group `other`, flagged with
how many groups it holds. "Where is it worst?": each group against the rest of the
things counted (the overall counts minus the group's), the difference with its 95%
interval; groups that differ significantly and for the worse come first, most worse first.

The SQL is written once over the engine's `events` relation with the Dialect's spellings,
so it runs on DuckDB and on Spark; attributes come from the app store (SQLite or
PostgreSQL) as an Arrow table of (customer, name, value) registered in the engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import pyarrow as pa
from sqlalchemy import Engine as Database
from sqlalchemy import String, cast, select

from kokemus.analytics.engines import Dialect
from kokemus.analytics.logs import literal
from kokemus.domain.errors import Invalid
from kokemus.domain.scores import Z95, Score

Kind = Literal["property", "attribute", "event"]
KINDS: tuple[Kind, ...] = ("property", "attribute", "event")
# Columns of the app store's customers that read as attributes too.
CUSTOMER_COLUMNS = ("language", "role")
YES, NO = "yes", "no"
OTHER = "other"  # the key of the pooled group
MAX_GROUPS = 30  # the largest groups shown; the rest are pooled into `other`
MAX_NAME = 64
MAX_VALUE = 200
MAX_FILTERS = 8
ATTRIBUTES = "kokemus_attributes"  # the registered relation of (customer, name, value)
SAMPLE = 20_000  # events (customers) read to discover property (attribute) names


class Unknown(Invalid, ValueError):
    """A breakdown or filter that is not one (a ValueError too, as a bad argument is)."""


@dataclass(frozen=True)
class Dimension:
    """A breakdown: a figure's own group (`kind` is its name, `name` empty) or one of KINDS
    with the property, attribute or event type `name`."""

    kind: str
    name: str = ""

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else self.kind

    @property
    def plain(self) -> bool:
        return not self.name

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Condition:
    """A filter: the thing counted has `value` for `dimension`."""

    dimension: Dimension
    value: str

    @property
    def text(self) -> str:
        return f"{self.dimension.text}={self.value}"


def _plain_name(name: str) -> bool:
    """A property or attribute name the engines' JSON access takes as it is: letters,
    digits and underscores."""
    return 0 < len(name) <= MAX_NAME and name.replace("_", "").isalnum()


def _event_type(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and all(c.isalnum() or c in "_.:-" for c in name)


def parse(text: str, plain: Sequence[str] = ()) -> Dimension:
    """`text` as a breakdown; `plain`: the figure's own groups. Raises Invalid naming what
    is accepted."""
    text = text.strip()
    if text in plain:
        return Dimension(text)
    kind, sep, name = text.partition(":")
    if not sep or kind not in KINDS:
        own = ", ".join(plain)
        raise Unknown(f"by: no breakdown {text[:MAX_NAME]!r} (known: {own + ', ' if own else ''}"
                      "property:<name>, attribute:<name>, event:<type>)")
    if kind == "event" and not _event_type(name):
        raise Unknown(f"by: {text[:MAX_NAME + 10]!r}: an event type is 1-{MAX_NAME} letters, "
                      "digits and _ . : -")
    if kind != "event" and not _plain_name(name):
        raise Unknown(f"by: {text[:MAX_NAME + 10]!r}: a {kind} name is 1-{MAX_NAME} letters, "
                      "digits and underscores")
    return Dimension(kind, name)


def parse_condition(text: str, plain: Sequence[str] = ()) -> Condition:
    """`<breakdown>=<value>` as a filter (Invalid when it is not one)."""
    left, sep, value = text.partition("=")
    if not sep:
        raise Unknown(f"where: {text[:MAX_NAME + 10]!r} is not <breakdown>=<value>, e.g. "
                      "property:carrier=Kiito or event:delivery_damaged=yes")
    try:
        dimension = parse(left, plain)
    except Unknown as exc:  # the same breakdown as a filter: say which option it was
        raise Unknown("where: " + str(exc).removeprefix("by: ")) from None
    value = value.strip()
    if not value or len(value) > MAX_VALUE:
        raise Unknown(f"where: the value of {dimension.text} is 1-{MAX_VALUE} characters")
    if dimension.kind == "event" and value not in (YES, NO):
        raise Unknown(f"where: {dimension.text} is {YES} or {NO}, not {value[:20]!r}")
    return Condition(dimension, value)


def parse_conditions(texts: Sequence[str] | None, plain: Sequence[str] = ()
                     ) -> tuple[Condition, ...]:
    if not texts:
        return ()
    if len(texts) > MAX_FILTERS:
        raise Unknown(f"where: at most {MAX_FILTERS} filters")
    return tuple(parse_condition(t, plain) for t in texts)


# ------------------------------------------------------------------------- what there is


@dataclass(frozen=True)
class Known:
    """The properties, attributes and event types a workspace's data has, to offer and to
    check breakdowns against."""

    properties: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    def choices(self) -> list[str]:
        return ([f"property:{p}" for p in self.properties]
                + [f"attribute:{a}" for a in self.attributes]
                + [f"event:{e}" for e in self.events])


def discover(cursor: Any, db: Database | None, workspace_id: int) -> Known:
    """Property names from a bounded sample of the workspace's events (those with
    properties among the latest SAMPLE, and the first of each event type, so a rare event's
    properties are seen too), event types from the events, attribute names from a sample of
    its customers."""
    w = int(workspace_id)
    rows = cursor.execute(f"""
        WITH sampled AS (
            SELECT properties FROM ({latest_properties(w)}) AS latest
            UNION ALL
            SELECT any_value(properties) FROM events
            WHERE workspace_id = {w} AND properties IS NOT NULL GROUP BY type
        )
        SELECT DISTINCT unnest(json_keys(properties)) AS k FROM sampled
        WHERE properties IS NOT NULL AND json_type(properties) = 'OBJECT'
        ORDER BY k
    """).fetchall()
    properties = tuple(str(r[0]) for r in rows if _plain_name(str(r[0])))
    events = tuple(str(r[0]) for r in cursor.execute(
        f"SELECT DISTINCT type FROM events WHERE workspace_id = {w} ORDER BY type"
    ).fetchall() if _event_type(str(r[0])))
    return Known(properties, attribute_names(db, w) if db is not None else (), events)


def latest_properties(workspace_id: int, sample: int = SAMPLE) -> str:
    """SQL of the properties of the workspace's latest `sample` events (those that have
    any). The cut is found on the sequence alone (a top-N over one integer column), so only
    the row groups after it are read for their properties."""
    w = int(workspace_id)
    return f"""
        SELECT properties FROM events
        WHERE workspace_id = {w} AND properties IS NOT NULL
          AND seq >= (SELECT coalesce(min(seq), 0) FROM (
                          SELECT seq FROM events WHERE workspace_id = {w}
                          ORDER BY seq DESC LIMIT {int(sample)}) AS cut)"""


def attribute_names(db: Database, workspace_id: int) -> tuple[str, ...]:
    from kokemus.storage.tables import customers

    names: set[str] = set()
    with db.connect() as conn:
        for (attributes,) in conn.execute(
                select(customers.c.attributes).where(customers.c.workspace_id == workspace_id)
                .limit(SAMPLE)):
            if isinstance(attributes, dict):
                names.update(k for k in attributes if isinstance(k, str) and _plain_name(k))
    return tuple(sorted(names | set(CUSTOMER_COLUMNS)))


def check(dimensions: Sequence[Dimension], known: Known, cursor: Any = None,
          workspace_id: int | None = None) -> None:
    """Raise Invalid for a property, attribute or event type the data does not have, naming
    those it has. A property missing from the sample is looked for in every event first."""
    for d in dimensions:
        if d.kind == "attribute" and d.name not in known.attributes:
            raise Invalid(f"no attribute {d.name!r} (known: "
                          f"{', '.join(known.attributes) or 'none'})")
        if d.kind == "event" and d.name not in known.events:
            raise Invalid(f"no event type {d.name!r} in the events (known: "
                          f"{', '.join(known.events[:50]) or 'none'})")
        if d.kind == "property" and d.name not in known.properties:
            found = cursor is not None and workspace_id is not None and cursor.execute(
                f"SELECT 1 FROM events WHERE workspace_id = {int(workspace_id)} AND "
                f"json_exists(properties, {literal('$.' + d.name)}) LIMIT 1").fetchall()
            if not found:
                raise Invalid(f"no event property {d.name!r} (known: "
                              f"{', '.join(known.properties[:50]) or 'none'})")


def attribute_table(db: Database, workspace_id: int, names: Sequence[str]) -> pa.Table:
    """(customer, name, value) of the workspace's customers for the attributes `names`,
    read in the app store, values as text; customers without the attribute have no row."""
    from kokemus.storage.tables import customers

    ids: list[str] = []
    keys: list[str] = []
    values: list[str] = []
    with db.connect() as conn:
        for name in dict.fromkeys(names):
            column = (getattr(customers.c, name) if name in CUSTOMER_COLUMNS
                      else customers.c.attributes[name].as_string())
            query = select(customers.c.id, cast(column, String)).where(
                customers.c.workspace_id == workspace_id, column.is_not(None))
            for customer, value in conn.execute(query):
                ids.append(customer)
                keys.append(name)
                values.append(str(value))
    return pa.table({"customer": pa.array(ids, pa.string()), "name": pa.array(keys, pa.string()),
                     "value": pa.array(values, pa.string())})


def tables_for(db: Database, workspace_id: int, dimensions: Sequence[Dimension]
               ) -> dict[str, pa.Table]:
    """The relations the breakdowns' SQL reads besides the events (the attributes asked
    for), by name, to register in the engine."""
    names = [d.name for d in dimensions if d.kind == "attribute"]
    return {ATTRIBUTES: attribute_table(db, workspace_id, names)} if names else {}


@contextmanager
def attached(cursor: Any, tables: Mapping[str, pa.Table]) -> Iterator[None]:
    """The tables registered on a DuckDB cursor for the length of the block."""
    for name, table in tables.items():
        cursor.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            cursor.unregister(name)


# --------------------------------------------------------------------------- the SQL


@dataclass(frozen=True)
class Source:
    """Where the keys are looked up: the workspace's events in `events`, cases being
    `case` (customer, or account for a B2B journey)."""

    workspace_id: int
    dialect: Dialect = field(default_factory=lambda: Dialect("duckdb"))
    events: str = "events"
    case: Literal["customer", "account"] = "customer"


def keys_sql(dimension: Dimension, subjects: str, source: Source) -> str:
    """(row_id, key) for each row of `subjects`, a relation with columns row_id, customer
    (the case's id), event_id (its own event, or NULL) and at (see the module's rule).
    Rows without a value have a NULL key."""
    return f"SELECT row_id, k0 AS key FROM ({lookups_sql([dimension], subjects, source)}) AS l"


def lookups_sql(dimensions: Sequence[Dimension], subjects: str, source: Source) -> str:
    """(row_id, k0, k1, ...) for each row of `subjects` (as in `keys_sql`): column `ki` is
    the key of dimensions[i]. All the properties are looked up in one pass over the events
    that carry any of them (the latest before `at` by max_by over (time, seq), a grouping
    rather than a window over every candidate), and all the event types in another, so a
    breakdown by several lookups reads the events twice, not twice per lookup."""
    d, w, case = source.dialect, int(source.workspace_id), source.case
    for dimension in dimensions:
        if dimension.plain or dimension.kind not in KINDS:
            raise ValueError(f"{dimension.text} is a figure's own breakdown, not a lookup")
        if dimension.kind == "attribute" and case != "customer":
            raise Invalid(f"{dimension.text}: attributes are a customer's; a B2B account's "
                          "journey has several customers")
    properties = list(dict.fromkeys(x.name for x in dimensions if x.kind == "property"))
    types = list(dict.fromkeys(x.name for x in dimensions if x.kind == "event"))
    attributes = list(dict.fromkeys(x.name for x in dimensions if x.kind == "attribute"))
    ctes: list[str] = []
    joins: list[str] = []
    if properties:
        parsed, texts = d.json_texts("properties", properties)
        order = d.time_order("c.ts", "c.seq")
        latest = ", ".join(f"max_by(c.p{i}, CASE WHEN c.p{i} IS NOT NULL THEN {order} END) "
                           f"AS p{i}" for i in range(len(texts)))
        # The events that carry any of the properties, each parsed once, read twice. No
        # `properties IS NOT NULL` (an event without them has no texts either): DuckDB
        # guesses 20 % of the rows per filter, and with two the carrying events looked
        # fewer than the responses, so the joins built their hash tables on the 4.5M
        # events of the 1M-response store instead of on the responses (2 s more CPU).
        ctes.append(f"""carrying AS {d.materialized()} (
                SELECT id, case_id, ts, seq,
                       {", ".join(f"{t} AS p{i}" for i, t in enumerate(texts))}
                FROM (SELECT id, {case} AS case_id, occurred_at AS ts, seq,
                             {parsed} AS json_texts
                      FROM {source.events}
                      WHERE workspace_id = {w}) AS e
                WHERE {d.any_present("json_texts")})""")
        joins.append("LEFT JOIN carrying AS own ON own.id = s.event_id")
        joins.append(f"""LEFT JOIN (
                SELECT s2.row_id, {latest}
                FROM ({subjects}) AS s2 JOIN carrying AS c
                  ON c.case_id = s2.customer AND c.ts <= s2.at
                GROUP BY s2.row_id) AS latest ON latest.row_id = s.row_id""")
    if types:
        firsts = ", ".join(f"min(CASE WHEN type = {literal(t)} THEN occurred_at END) AS e{i}"
                           for i, t in enumerate(types))
        joins.append(f"""LEFT JOIN (
                SELECT {case} AS case_id, {firsts} FROM {source.events}
                WHERE workspace_id = {w} AND type IN ({", ".join(literal(t) for t in types)})
                GROUP BY {case}) AS f ON f.case_id = s.customer""")
    for i, name in enumerate(attributes):
        joins.append(f"LEFT JOIN (SELECT customer, value FROM {ATTRIBUTES} "
                     f"WHERE name = {literal(name)}) AS a{i} ON a{i}.customer = s.customer")
    keys = []
    for x in dimensions:
        if x.kind == "property":
            i = properties.index(x.name)
            keys.append(f"coalesce(own.p{i}, latest.p{i})")
        elif x.kind == "event":
            i = types.index(x.name)
            keys.append(f"CASE WHEN f.e{i} IS NOT NULL AND f.e{i} <= s.at "
                        f"THEN '{YES}' ELSE '{NO}' END")
        else:
            keys.append(f"a{attributes.index(x.name)}.value")
    columns = "".join(f", {k} AS k{i}" for i, k in enumerate(keys))
    with_ = f"WITH {', '.join(ctes)} " if ctes else ""
    return f"{with_}SELECT s.row_id{columns} FROM ({subjects}) AS s {' '.join(joins)}"


def matching_sql(conditions: Sequence[Condition], subjects: str, source: Source) -> str:
    """The row_ids of `subjects` that meet every lookup condition (none of them plain), as
    SQL to follow `row_id IN (...)`."""
    parts = [f"SELECT row_id FROM ({keys_sql(c.dimension, subjects, source)}) AS k "
             f"WHERE key = {literal(c.value)}" for c in conditions]
    return " INTERSECT ".join(parts)


# ---------------------------------------------------------------------- groups and contrasts


G = TypeVar("G")


def pool(groups: Sequence[G], size: Callable[[G], int], min_n: int,
         limit: int = MAX_GROUPS) -> tuple[list[G], list[G]]:
    """The groups kept (in the order given, largest first) and those to pool into `other`:
    those below `min_n`, and those beyond the first `limit`; a lone such group is kept
    (pooling it would only hide its name)."""
    kept = [g for g in groups if size(g) >= min_n][:limit]
    chosen = {id(g) for g in kept}
    pooled = [g for g in groups if id(g) not in chosen]
    if len(pooled) == 1:  # one small group stays under its own name ("too few")
        return [*kept, *pooled], []
    return kept, pooled


@dataclass(frozen=True)
class Contrast:
    """A group against the rest on one figure: the difference (group - rest) and its 95%
    interval, from the sum of the two variances."""

    key: str
    kind: str
    group: Score
    rest: Score
    difference: float | None
    low: float | None
    high: float | None
    significant: bool  # the interval excludes 0, both sides with enough
    worse: bool  # significant, and the group is worse than the rest
    pooled: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "group": self.group.as_dict(),
                "rest": self.rest.as_dict(), "difference": self.difference,
                "low": self.low, "high": self.high, "significant": self.significant,
                "worse": self.worse, "pooled": self.pooled}


def contrast(key: str, group: Score, rest: Score, higher_is_better: bool = True,
             pooled: int = 0) -> Contrast:
    if group.value is None or rest.value is None:
        return Contrast(key, group.kind, group, rest, None, None, None, False, False, pooled)
    diff = group.value - rest.value
    if group.se is None or rest.se is None:
        return Contrast(key, group.kind, group, rest, diff, None, None, False, False, pooled)
    se = math.sqrt(group.se ** 2 + rest.se ** 2)
    low, high = diff - Z95 * se, diff + Z95 * se
    significant = group.enough and rest.enough and (low > 0 or high < 0)
    worse = significant and (diff < 0 if higher_is_better else diff > 0)
    return Contrast(key, group.kind, group, rest, diff, low, high, significant, worse, pooled)


def worst(contrasts: Sequence[Contrast], higher_is_better: bool = True) -> list[Contrast]:
    """Where is it worst? Significantly worse groups first, the most worse first; then the
    others, worst first; groups without a difference last."""
    sign = 1.0 if higher_is_better else -1.0

    def order(c: Contrast) -> tuple[int, float, str]:
        if c.difference is None:
            return (2, 0.0, c.key)
        return (0 if c.worse else 1, sign * c.difference, c.key)

    return sorted(contrasts, key=order)
