"""How long the `kokemus` command takes to answer: `kokemus --help` and a light command
(`kokemus keys list`, app store only), each the median of several runs of the real
`.venv/bin/kokemus` subprocess, beside the floor of `python -c pass` measured in the same
run (the interpreter's own start-up, which no change to kokemus can go below).

    .venv/bin/python bench/cli_startup.py [--runs N]

Prints its figures as one JSON object on its last line. `measure_cli(data_dir)` is what
other benchmarks (bench/trust.py) import.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KOKEMUS = str(Path(sys.executable).with_name("kokemus"))


def _seconds(command: list[str], env: dict[str, str], runs: int) -> float:
    """The median wall time of `runs` runs of `command` (after one unmeasured warm-up)."""
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if i:  # the first run warms the file cache and the bytecode
            times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def measure_cli(data_dir: Path, runs: int = 7, workspace: str | None = None) -> dict[str, float]:
    """`cli_help_s`, `cli_light_s` and the floor `python_floor_s` for the data folder
    `data_dir` (which `kokemus init` made; `workspace` when it holds several)."""
    env = {**os.environ, "KOKEMUS_DATA_DIR": str(data_dir)}
    light = [KOKEMUS, "keys", "list", *(["-w", workspace] if workspace else [])]
    return {
        "python_floor_s": _seconds([sys.executable, "-c", "pass"], env, runs),
        "cli_help_s": _seconds([KOKEMUS, "--help"], env, runs),
        "cli_light_s": _seconds(light, env, runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOKEMUS_")}
        subprocess.run([KOKEMUS, "init", str(root)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([KOKEMUS, "apply", str(root / "workspace.yaml"), "--data-dir",
                        str(root / "kokemus-data")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        figures = measure_cli(root / "kokemus-data", runs)
    figures |= {"runs": runs, "cpus": os.cpu_count() or 0,
                "help_over_floor": round(figures["cli_help_s"] / figures["python_floor_s"], 1),
                "light_over_floor": round(figures["cli_light_s"] / figures["python_floor_s"], 1)}
    for name, value in figures.items():
        print(f"{name}: {value}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
