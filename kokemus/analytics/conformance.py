"""How far real journeys are from the designed one: fitness and deviations.

Definitions (what a CX analyst reads in the report)
---------------------------------------------------

The *designed path* of a journey is its touchpoints in the intended order. Its *required*
touchpoints are those on the designed path flagged `required`, plus the journey's goal when
it is on the path. When the journey flags none and has no goal, every touchpoint of the path
is required: the designed path is then the only statement of intent. A touchpoint that is
flagged required but not on the designed path has no place in the order, so it is checked by
nothing here: put it on the designed path to require it.

Each case's events are read in (ts, seq) order. Every event is one of:

- **in step**: the first visit of a designed-path touchpoint that lies further along the path
  than anything the case had reached before (jumping over optional touchpoints is fine);
- **unexpected**: a touchpoint that is not on the designed path (every visit counts);
- **loop**: a designed-path touchpoint the case had visited before (a→a, or a→b→a);
- **wrong order**: the first visit of a designed-path touchpoint after a later one of the
  path had been reached (a→c→b).

and, once per case and touchpoint,

- **skipped**: a required touchpoint the case never visited although it reached a later
  touchpoint of the path. A case that simply has not got that far yet (or left) has not
  skipped anything: stopping early is drop-off (see `dropoff`), not a deviation.

**Fitness** of a case is the share of its moves that are in step with the design: in-step
events / (events + skipped required touchpoints). Every deviation costs one move, as in an
alignment (unexpected, loop and wrong-order events are moves on the log only; a skipped
required touchpoint a move on the model only). A journey's fitness is the mean over cases.

**Transition fitness** of a case is the share of its transitions that the design allows,
counting the entry into the first event as a transition from the start. Allowed: from a
designed-path touchpoint (or the start) to a later one with no required touchpoint in
between, i.e. the consecutive pairs of the path, plus jumps over optional ones. Self-loops
are loops, never allowed.

A case **conforms** when it has no deviation at all; it is **complete** when it visited every
required touchpoint.

Exact alignments (`align_variants`) are computed only per distinct variant, in Python: there
are hundreds of variants, never a loop per case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from kokemus.analytics import journeys, ordering
from kokemus.analytics.engines import Engine
from kokemus.analytics.logs import Log, literal
from kokemus.domain.journeys import Journey

KINDS = ("skipped", "wrong_order", "loop", "unexpected")
# Visited path touchpoints are a bit mask in a BIGINT: one bit per position.
MAX_PATH = 62


@dataclass(frozen=True)
class Design:
    """The designed path as the checks need it: positions 1..n, and which are required."""

    path: tuple[str, ...]
    required: frozenset[str]

    @classmethod
    def of(cls, journey: Journey) -> Design:
        path = tuple(dict.fromkeys(journey.designed_path))  # a repeated id keeps its first place
        if not path:
            raise ValueError(f"journey '{journey.id}' has no designed path")
        if len(path) > MAX_PATH:
            raise ValueError(f"a designed path of more than {MAX_PATH} touchpoints")
        flagged = {t.id for t in journey.touchpoints if t.required} & set(path)
        if journey.goal in path:
            flagged.add(journey.goal)
        return cls(path, frozenset(flagged) if flagged else frozenset(path))

    def position(self, activity: str) -> int | None:
        return self.path.index(activity) + 1 if activity in self.path else None

    def allowed_after(self, position: int) -> int:
        """The furthest position one may move to from `position` (0 = the start): up to and
        including the next required touchpoint."""
        for p in range(position + 1, len(self.path) + 1):
            if self.path[p - 1] in self.required:
                return p
        return len(self.path)

    def _case(self, subject: str, values: list[tuple[str, str]], default: str) -> str:
        whens = " ".join(f"WHEN {w} THEN {v}" for w, v in values)
        return f"CASE {subject} {whens} ELSE {default} END"

    def position_sql(self, column: str) -> str:
        return self._case(column, [(literal(a), str(i + 1)) for i, a in enumerate(self.path)],
                          "NULL")

    def bit_sql(self, column: str) -> str:
        # Literal powers of two: no shift operators, which the engines spell differently.
        return self._case(column, [(literal(a), str(1 << i)) for i, a in enumerate(self.path)],
                          "0")

    def reach_sql(self, column: str) -> str:
        return self._case(column, [(str(p), str(self.allowed_after(p)))
                                   for p in range(len(self.path) + 1)], "0")


def _events(log: Log, design: Design) -> str:
    """Each event classified against the case's progress along the designed path."""
    w = log.window
    before = f"({w} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
    return f"""
        SELECT case_id, activity, pos, bit,
               CASE WHEN pos IS NULL THEN 'unexpected'
                    WHEN seen_before <> 0 THEN 'loop'
                    WHEN pos < reached THEN 'wrong_order'
                    ELSE 'in_step' END AS kind,
               CASE WHEN pos IS NOT NULL AND pos > prev_pos
                         AND pos <= {design.reach_sql('prev_pos')} THEN 1 ELSE 0 END AS allowed
        FROM (
            SELECT case_id, activity, pos, bit,
                   coalesce(max(pos) OVER {before}, 0) AS reached,
                   coalesce(bit_or(bit) OVER {before}, 0) & bit AS seen_before,
                   -- From the start (no previous event) counts as position 0; from an
                   -- unexpected touchpoint as -1, which allows nothing.
                   lag(coalesce(pos, -1), 1, 0) OVER ({w}) AS prev_pos
            FROM (
                SELECT {log.columns}, {design.position_sql('activity')} AS pos,
                       CAST({design.bit_sql('activity')} AS BIGINT) AS bit
                FROM ({log.sql}) AS l
            ) AS e
        ) AS o
    """


def _per_case(log: Log, design: Design) -> str:
    """The per-case counts of `_events`' kinds, with one running window instead of two.

    An event is at the case's front when its position equals the running maximum so far
    (itself included). The touchpoints ever at the front are exactly those whose first
    visit was in step (a front touchpoint was new when it first got there; a first visit
    behind the front is in the wrong order). So, per case: in step = distinct front
    touchpoints, wrong order = distinct path touchpoints - in step, loops = path events -
    distinct path touchpoints: the same figures, with less work for the engine.
    """
    w = log.window
    return f"""
        SELECT case_id, events, in_step, unexpected,
               path_events - CAST(bit_count(visited) AS INTEGER) AS loop,
               CAST(bit_count(visited) AS INTEGER) - in_step AS wrong_order,
               allowed, visited, furthest
        FROM (
            SELECT case_id, count(*) AS events, count(pos) AS path_events,
                   -- bit_count is a TINYINT on DuckDB, an INT on Spark
                   CAST(bit_count(bit_or(CASE WHEN pos = front THEN bit ELSE 0 END))
                        AS INTEGER) AS in_step,
                   -- BIGINT on both engines (DuckDB would sum to a HUGEINT)
                   CAST(sum(CASE WHEN pos IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unexpected,
                   CAST(sum(CASE WHEN pos > prev_pos AND pos <= {design.reach_sql('prev_pos')}
                                 THEN 1 ELSE 0 END) AS BIGINT) AS allowed,
                   bit_or(bit) AS visited, coalesce(max(pos), 0) AS furthest
            FROM (
                SELECT case_id, pos, bit,
                       max(pos) OVER ({w} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
                           AS front,
                       -- From the start (no previous event) counts as position 0; from an
                       -- unexpected touchpoint as -1, which allows nothing.
                       lag(coalesce(pos, -1), 1, 0) OVER ({w}) AS prev_pos
                FROM (
                    SELECT {log.columns}, {design.position_sql('activity')} AS pos,
                           CAST({design.bit_sql('activity')} AS BIGINT) AS bit
                    FROM ({log.sql}) AS l
                ) AS e
            ) AS f
            GROUP BY case_id
        ) AS c
    """


def cases_sql(log: Log, journey: Journey) -> str:
    """SQL of one row per case: events, counts per kind, skipped, fitness, conforms,
    complete; compose it with other relations (e.g. join an outcome) inside the engine."""
    design = Design.of(journey)
    required = [(design.position(r) or 0, r) for r in design.required]
    required_mask = sum(1 << (p - 1) for p, _ in required)
    skipped = " + ".join(
        f"CASE WHEN furthest > {p} AND visited & {1 << (p - 1)} = 0 THEN 1 ELSE 0 END"
        for p, _ in sorted(required)) or "0"
    return f"""
        SELECT case_id, events, in_step, unexpected, loop, wrong_order, skipped,
               in_step / (events + skipped) AS fitness,
               allowed / events AS transition_fitness,
               CASE WHEN in_step = events AND skipped = 0 THEN 1 ELSE 0 END AS conforms,
               CASE WHEN visited & {required_mask} = {required_mask} THEN 1 ELSE 0 END
                   AS complete,
               visited, furthest
        FROM (
            SELECT *, {skipped} AS skipped FROM ({_per_case(log, design)}) AS c
        ) AS s
    """


def cases(engine: Engine, log: Log, journey: Journey) -> pa.Table:
    """Per case: events, in_step, unexpected, loop, wrong_order, skipped, fitness,
    transition_fitness, conforms (0/1), complete (0/1), visited (bit mask of path
    positions), furthest (position reached)."""
    log = ordering.resolve(engine, log)
    return engine.query(cases_sql(log, journey) + " ORDER BY case_id")


@dataclass(frozen=True)
class Conformance:
    """A journey's conformance: the figures, deviations per kind, skips per touchpoint."""

    cases: int
    fitness: float | None
    transition_fitness: float | None
    conforming_share: float | None
    complete_share: float | None
    deviations: pa.Table   # kind, cases (with at least one), occurrences
    skipped: pa.Table      # touchpoint, position, cases that skipped it, share of cases


def conformance(engine: Engine, log: Log, journey: Journey) -> Conformance:
    """Fitness, share of conforming and complete cases, and the totals of each deviation kind,
    in one pass over the log inside the engine (see the module's definitions)."""
    log = ordering.resolve(engine, log)
    design = Design.of(journey)
    required = sorted((design.position(r) or 0, r) for r in design.required)
    per_touchpoint = ", ".join(
        f"sum(CASE WHEN furthest > {p} AND visited & {1 << (p - 1)} = 0 THEN 1 ELSE 0 END) "
        f"AS skipped_{p}" for p, _ in required)
    kinds = ", ".join(
        f"sum({k}) AS {k}_n, sum(CASE WHEN {k} > 0 THEN 1 ELSE 0 END) AS {k}_cases"
        for k in KINDS)
    row: dict[str, Any] = engine.query(f"""
        SELECT count(*) AS cases, avg(fitness) AS fitness,
               avg(transition_fitness) AS transition_fitness,
               avg(conforms) AS conforming_share, avg(complete) AS complete_share,
               {kinds}, {per_touchpoint}
        FROM ({cases_sql(log, journey)}) AS c
    """).to_pylist()[0]
    total = int(row["cases"])

    def share(n: Any) -> float | None:
        return int(n or 0) / total if total else None

    deviations = pa.table({
        "kind": list(KINDS),
        "cases": [int(row[f"{k}_cases"] or 0) for k in KINDS],
        "occurrences": [int(row[f"{k}_n"] or 0) for k in KINDS],
    })
    skipped = pa.table({
        "touchpoint": [r for _, r in required],
        "position": [p for p, _ in required],
        "cases": [int(row[f"skipped_{p}"] or 0) for p, _ in required],
        "share": [share(row[f"skipped_{p}"]) for p, _ in required],
    })
    return Conformance(
        cases=total, fitness=row["fitness"], transition_fitness=row["transition_fitness"],
        conforming_share=row["conforming_share"], complete_share=row["complete_share"],
        deviations=deviations, skipped=skipped)


def deviations_by_touchpoint(engine: Engine, log: Log, journey: Journey) -> pa.Table:
    """Where the deviations happen: per touchpoint and kind (unexpected, loop, wrong_order;
    skipped is in `Conformance.skipped`), the cases with one and the events, most first."""
    log = ordering.resolve(engine, log)
    return engine.query(f"""
        SELECT activity AS touchpoint, kind, count(DISTINCT case_id) AS cases,
               count(*) AS events
        FROM ({_events(log, Design.of(journey))}) AS k
        WHERE kind <> 'in_step'
        GROUP BY activity, kind
        ORDER BY cases DESC, events DESC, touchpoint, kind
    """)


# Exact alignment per distinct variant ------------------------------------------------------

@dataclass(frozen=True)
class Alignment:
    """An optimal alignment of a variant with the designed path. Moves are written
    `a` (in step), `+a` (move on the log only: an extra event) and `-a` (move on the model
    only: a touchpoint of the path the variant lacks)."""

    moves: tuple[str, ...]
    cost: int
    fitness: float


def align(variant: list[str] | tuple[str, ...], design: Design) -> Alignment:
    """Edit-distance alignment: an extra event costs 1, a missing required touchpoint 1, a
    missing optional touchpoint 0, a match 0. Fitness = 1 - cost / worst cost, where the
    worst is every event extra and every required touchpoint missing."""
    path = design.path
    n, m = len(variant), len(path)

    def model_cost(j: int) -> int:
        return 1 if path[j] in design.required else 0

    # cost[i][j]: aligning variant[:i] with path[:j]; ties prefer log moves, then matches,
    # so the alignment is deterministic.
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for j in range(1, m + 1):
        cost[0][j] = cost[0][j - 1] + model_cost(j - 1)
    for i in range(1, n + 1):
        cost[i][0] = i
        for j in range(1, m + 1):
            best = min(cost[i - 1][j] + 1, cost[i][j - 1] + model_cost(j - 1))
            if variant[i - 1] == path[j - 1]:
                best = min(best, cost[i - 1][j - 1])
            cost[i][j] = best
    moves: list[str] = []
    i, j = n, m
    while i or j:
        if i and j and variant[i - 1] == path[j - 1] and cost[i][j] == cost[i - 1][j - 1]:
            moves.append(path[j - 1])
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            moves.append("+" + variant[i - 1])
            i -= 1
        else:
            if model_cost(j - 1):
                moves.append("-" + path[j - 1])
            j -= 1
    worst = n + len(design.required)
    total = cost[n][m]
    return Alignment(tuple(reversed(moves)), total, 1 - total / worst if worst else 1.0)


def align_variants(engine: Engine, log: Log, journey: Journey, top: int = 100) -> pa.Table:
    """The `top` variants (by cases) with an exact alignment each: variant, cases, share,
    cost, fitness, log_moves, model_moves, alignment (list of moves, see `Alignment`)."""
    design = Design.of(journey)
    found = journeys.variants(engine, log, limit=top)
    aligned = [align(v, design) for v in found.column("variant").to_pylist()]
    return pa.table({
        "variant": found.column("variant"),
        "cases": found.column("cases"),
        "share": found.column("share"),
        "cost": [a.cost for a in aligned],
        "fitness": [a.fitness for a in aligned],
        "log_moves": [sum(m.startswith("+") for m in a.moves) for a in aligned],
        "model_moves": [sum(m.startswith("-") for m in a.moves) for a in aligned],
        "alignment": [list(a.moves) for a in aligned],
    })
