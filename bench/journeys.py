"""Journey analytics benchmark: kokemus (DuckDB on Parquet) against pm4py on pandas and on
polars, on generated logs, in one run. Progress goes to stderr; the last stdout line is one
JSON object with the figures of the largest size run (and `sizes`, every size's detail).

    python bench/journeys.py                      # 1M and 10M events (100k and 1M cases)
    python bench/journeys.py --events 50000000    # one size; above 10M the DFG alone
    python bench/journeys.py --events 1000000 --steps dfg,variants --no-pm4py

The log: ~20 activities a0..a19; a case mostly follows the designed path a0 -> a1 -> ...
and deviates at each step with probability 0.12 to a skewed random activity (low numbers
far more often), so there are many variants but far fewer than cases. A quarter of the
cases have pairs of events with equal timestamps, which the seq column orders. The rows are
unordered: a case's events are spread over the file and out of time order.

kokemus first stores the log in case order (`order`: analytics/ordering.py, as the event
store keeps its copies; timed on its own), then answers over that copy: the DFG in one pass
without sorting, variants and conformance with windows on its numbers. `dfg_unordered` is
the DFG sorting the unordered rows themselves, for the record.

Every measured step runs in a fresh subprocess, so each peak memory figure (the process's
maximum RSS, Python and libraries included) belongs to that step alone; `peak_mb` is the
largest of kokemus's steps. Times are the step's own work, not the interpreter's start.
pm4py gets the log sorted by (case, ts, seq), so its answers are right; its time counts
only discover_dfg, not reading or sorting the file.

Targets at 10M events on 2 cores: DFG with times < 4 s, variants < 10 s, conformance < 5 s,
peak memory < 2 GB; DFG at least 3x faster than pm4py on polars, 7x than on pandas.
At 50M: DFG < 25 s within 8 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import orjson

ACTIVITIES = 20
LONGEST = 19  # events per case: 1..19, 10 on average
CASE, ACT, TS = "case_id", "activity", "ts"
PM4PY_MAX = 10_000_000  # pm4py beyond this would only measure swapping
SPILL_MAX = "12GB"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_mb() -> float:
    """This process's peak RSS. Linux's VmHWM belongs to the process image: ru_maxrss would
    also count the parent's size at the fork (it survives exec), and the parent is big
    after generating a log."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------- data


def generate(events: int, folder: Path, pm4py: bool) -> dict[str, Any]:
    """Write log.parquet (unordered) and, for pm4py, sorted.parquet; return their figures."""
    import duckdb

    cases = max(events // 10, 1)
    path, sorted_path = folder / "log.parquet", folder / "sorted.parquet"
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    # Row i is position k of case c: the positions come in blocks (all cases' k = 0, then
    # k = 7, 14, 2, ...), cases permuted inside a block; positions past a case's length are
    # dropped. hash() makes the "random" draws, the same on every run.
    started = time.perf_counter()
    con.execute(f"""
        COPY (
            WITH rows AS (
                SELECT (i // {cases}) * 7 % {LONGEST} AS k,
                       ((i % {cases}) * 7919 + (i // {cases}) * 104729) % {cases} AS c
                FROM range({cases * LONGEST}) AS r(i)
            ), drawn AS (
                SELECT c, k, 1 + hash(c) % {LONGEST} AS len,
                       hash(c, k, 1) % 1000000 / 1e6 AS u,
                       hash(c, k, 2) % 1000000 / 1e6 AS v,
                       c % 4 = 0 AS ties
                FROM rows
            )
            SELECT 'c' || c AS {CASE},
                   'a' || CASE WHEN u < 0.88 THEN least(k, {ACTIVITIES - 1})
                               ELSE CAST(floor({ACTIVITIES} * pow(v, 2.5)) AS INTEGER)
                          END AS {ACT},
                   TIMESTAMP '2025-01-01' + to_seconds(CAST(hash(c) % 31536000 AS BIGINT)
                       + 3600 * (CASE WHEN ties THEN k // 2 * 2 ELSE k END)
                       + CAST(hash(c, CASE WHEN ties THEN k // 2 * 2 ELSE k END) % 3000
                              AS BIGINT)) AS {TS},
                   c * 32 + k AS seq
            FROM drawn
            WHERE k < len
        ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    written = time.perf_counter() - started
    n = con.execute(f"SELECT count(*) FROM '{path}'").fetchall()[0][0]
    if pm4py:
        con.execute(f"COPY (SELECT * FROM '{path}' ORDER BY {CASE}, {TS}, seq) TO "
                    f"'{sorted_path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)")
    con.close()
    return {"path": str(path), "sorted": str(sorted_path), "events": int(n),
            "cases": cases, "generate_s": round(written, 2)}


# ---------------------------------------------------------------------------------- steps


COPY_TABLE = "bench_log"


def kokemus_engine(path: str, threads: int, memory: str | None = None) -> tuple[Any, Any]:
    """kokemus's engine on a database file beside the log (which holds the case-ordered
    copy once the `order` step made it), and the log of the Parquet file."""
    import duckdb

    from kokemus.analytics.engines import DuckDBEngine
    from kokemus.analytics.logs import table_log

    con = duckdb.connect(str(Path(path).parent / "kokemus.duckdb"))
    con.execute(f"SET threads = {threads}")
    con.execute("SET enable_progress_bar = false")
    if memory:
        con.execute(f"SET memory_limit = '{memory}'")
    # Spill next to the log, and fail rather than fill the disk (at 50M events DuckDB's
    # window operator can write tens of GB of temporary files).
    con.execute(f"SET temp_directory = '{Path(path).parent / 'spill'}'")
    con.execute(f"SET max_temp_directory_size = '{SPILL_MAX}'")
    return DuckDBEngine(con), table_log(f"read_parquet('{path}')", CASE, ACT, TS, seq="seq")


def designed_journey() -> Any:
    from kokemus.domain.journeys import Journey

    ids = [f"a{i}" for i in range(ACTIVITIES)]
    return Journey.model_validate({
        "id": "bench", "name": "bench", "stages": [{"id": "all", "name": "all"}],
        "touchpoints": [{"id": t, "name": t, "stage": "all", "channel": "web", "owner": "cx",
                         "category": "reliability", "required": i % 4 == 0}
                        for i, t in enumerate(ids)],
        "designed_path": ids, "goal": ids[-1],
    })


def run_step(step: str, path: str, threads: int, memory: str | None) -> dict[str, Any]:
    """One step, in this (fresh) process: its seconds, peak RSS and what it found."""
    warnings.simplefilter("ignore")
    out: dict[str, Any] = {"step": step}
    if step.startswith("pm4py"):
        import pm4py  # type: ignore[import-untyped]

        keys = {"case_id_key": CASE, "activity_key": ACT, "timestamp_key": TS}
        if step == "pm4py_pandas":
            import pandas as pd  # type: ignore[import-untyped]

            frame: Any = pd.read_parquet(path)
        else:
            import polars as pl

            frame = pl.scan_parquet(path)
        out["read_mb"] = round(peak_mb())
        started = time.perf_counter()
        dfg, _, _ = pm4py.discover_dfg(frame, **keys)
        out["seconds"] = time.perf_counter() - started
        out["dfg"] = sorted([a, b, int(n)] for (a, b), n in dfg.items())
    else:
        from kokemus.analytics import journeys, ordering

        engine, tlog = kokemus_engine(path, threads, memory)
        if step not in ("order", "dfg_unordered"):  # the others read the case-ordered copy
            tlog = ordering.with_copy(tlog, COPY_TABLE)
            if tlog.ordered is None or not ordering.usable(engine, tlog.ordered):
                raise SystemExit("no case-ordered copy: run the order step first")
        started = time.perf_counter()
        if step == "order":
            ordering.order_log(engine.connection, tlog, COPY_TABLE)
        elif step in ("dfg", "dfg_unordered"):
            table = journeys.dfg(engine, tlog)
            out["dfg"] = sorted([r["source"], r["target"], int(r["count"])]
                                for r in table.to_pylist())
        elif step == "variants":
            table = journeys.variants(engine, tlog)
            out["variants"] = table.num_rows
            out["cases"] = int(sum(table["cases"].to_pylist()))
        elif step == "conformance":
            from kokemus.analytics.conformance import conformance

            result = conformance(engine, tlog, designed_journey())
            out["result"] = {"kind": "kokemus.analytics.conformance",
                             "cases": result.cases, "fitness": result.fitness,
                             "transition_fitness": result.transition_fitness,
                             "conforming_share": result.conforming_share}
        else:
            raise SystemExit(f"unknown step {step}")
        out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = round(peak_mb())
    return out


def measure(step: str, path: str, threads: int, memory: str | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--step", step, "--file", path,
               "--threads", str(threads)]
    if memory:
        command += ["--memory-limit", memory]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log(f"{step} failed: {done.stderr.strip()[-2000:]}")
        return {"step": step, "error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = orjson.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------------- main


def bench_size(events: int, steps: list[str], pm4py: bool, threads: int,
               folder: Path, memory: str | None) -> dict[str, Any]:
    log(f"generating {events:,} events")
    data = generate(events, folder, pm4py)
    log(f"  {data['events']:,} events, {data['cases']:,} cases in {data['generate_s']} s")
    detail: dict[str, Any] = {"events": data["events"], "cases": data["cases"]}
    found: dict[str, Any] = {}
    for step in steps:
        result = measure(step, data["path"], threads, memory)
        found[step] = result
        if step == "dfg_unordered" and "dfg" in result and "dfg" in found.get("dfg", {}):
            detail["dfg_paths_agree"] = found["dfg"]["dfg"] == result["dfg"]
        if "seconds" in result:
            detail[f"{step}_s"] = round(result["seconds"], 2)
            detail[f"{step}_peak_mb"] = result["peak_mb"]
            log(f"  kokemus {step}: {result['seconds']:.2f} s, peak {result['peak_mb']} MB")
        if step == "variants" and "variants" in result:
            detail["variants"] = result["variants"]
        if step == "conformance" and "result" in result:
            detail["conformance"] = result["result"]
            log(f"    {result['result']}")
    kokemus_peaks = [found[s]["peak_mb"] for s in steps if "peak_mb" in found[s]]
    detail["peak_mb"] = max(kokemus_peaks) if kokemus_peaks else None
    if pm4py:
        for flavour in ("pandas", "polars"):
            result = measure(f"pm4py_{flavour}", data["sorted"], threads)
            if "seconds" in result:
                detail[f"pm4py_{flavour}_dfg_s"] = round(result["seconds"], 2)
                detail[f"pm4py_{flavour}_peak_mb"] = result["peak_mb"]
                log(f"  pm4py on {flavour}: {result['seconds']:.2f} s, "
                    f"peak {result['peak_mb']} MB")
                if "dfg" in found:
                    same = found["dfg"].get("dfg") == result["dfg"]
                    detail[f"dfg_matches_pm4py_{flavour}"] = same
            else:
                detail[f"pm4py_{flavour}_dfg_s"] = None
                detail[f"pm4py_{flavour}_error"] = result.get("error")
        matches = [detail[k] for k in ("dfg_matches_pm4py_pandas", "dfg_matches_pm4py_polars")
                   if k in detail]
        detail["dfg_matches_pm4py"] = bool(matches) and all(matches)
        for flavour in ("pandas", "polars"):
            theirs = detail.get(f"pm4py_{flavour}_dfg_s")
            if theirs and detail.get("dfg_s"):
                detail[f"dfg_speedup_vs_{flavour}"] = round(theirs / detail["dfg_s"], 1)
    for flavour in ("pandas", "polars"):
        theirs = detail.get(f"pm4py_{flavour}_dfg_s")
        if theirs and detail.get("dfg_unordered_s"):
            detail[f"dfg_unordered_speedup_vs_{flavour}"] = round(
                theirs / detail["dfg_unordered_s"], 1)
    for name in ("log.parquet", "sorted.parquet", "kokemus.duckdb", "kokemus.duckdb.wal"):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "spill", ignore_errors=True)
    return detail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, action="append",
                        help="log size (repeatable); default 1M and 10M")
    parser.add_argument("--steps", help="kokemus steps, comma-separated "
                        "(dfg,variants,conformance); default all up to 10M, dfg above")
    parser.add_argument("--no-pm4py", action="store_true", help="kokemus only")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--dir", type=Path, help="folder for the generated logs")
    parser.add_argument("--memory-limit", default="6GB",
                        help="DuckDB's memory_limit for kokemus's steps (it spills beyond)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:  # a child measuring one step
        print(orjson.dumps(run_step(args.step, args.file, args.threads,
                                    args.memory_limit)).decode())
        return
    sizes = sorted(args.events or [1_000_000, 10_000_000])
    folder = args.dir or Path(tempfile.mkdtemp(prefix="kokemus-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    log(f"logs in {folder}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    per_size = []
    for events in sizes:
        if args.steps:
            steps = args.steps.split(",")
        else:
            steps = (["order", "dfg", "dfg_unordered", "variants", "conformance"]
                     if events <= PM4PY_MAX else ["order", "dfg", "dfg_unordered"])
        pm4py = not args.no_pm4py and events <= PM4PY_MAX
        per_size.append(bench_size(events, steps, pm4py, args.threads, folder,
                                   args.memory_limit))
    if args.dir is None:
        shutil.rmtree(folder, ignore_errors=True)
    largest = per_size[-1]
    summary = {
        "events": largest["events"],
        "dfg_s": largest.get("dfg_s"),
        "variants_s": largest.get("variants_s"),
        "conformance_s": largest.get("conformance_s"),
        "peak_mb": largest.get("peak_mb"),
        "pm4py_pandas_dfg_s": largest.get("pm4py_pandas_dfg_s"),
        "pm4py_polars_dfg_s": largest.get("pm4py_polars_dfg_s"),
        "dfg_matches_pm4py": largest.get("dfg_matches_pm4py"),
        "order_s": largest.get("order_s"),
        "dfg_unordered_s": largest.get("dfg_unordered_s"),
        "load_average": round(os.getloadavg()[0], 2),
        "sizes": per_size,
    }
    print(orjson.dumps(summary).decode())


if __name__ == "__main__":
    main()
