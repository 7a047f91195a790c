"""Trust figures of issue 9, in one run against a real `kokemus serve` over a fresh folder:

- `body_413_ms`, `body_rss_growth_mb`: a 200 MB body (declared and chunked) refused with
  413, how fast and at what memory (bench/trust_body.py);
- `signin_rss_growth_mb`: 40 wrong sign-ins at once from 40 addresses, the memory they
  cost the server (bench/trust_signin.py);
- `cli_help_s`, `cli_light_s`: `kokemus --help` and `kokemus keys list`, beside the floor
  `python_floor_s` of the interpreter's own start-up (bench/cli_startup.py).

Targets: body_413_ms < 100, body_rss_growth_mb < 50, signin_rss_growth_mb < 300,
cli_help_s < 0.5, cli_light_s < 1.5. Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from cli_startup import measure_cli
from ingest import workspace
from loadgen import Server, log
from trust_body import measure_body
from trust_signin import SERVER_ENV, measure_signin

TARGETS = {"body_413_ms": 100.0, "body_rss_growth_mb": 50.0, "signin_rss_growth_mb": 300.0,
           "cli_help_s": 0.5, "cli_light_s": 1.5}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, key = workspace(Path(tmp))
        log("starting kokemus serve")
        server = Server(data, env=SERVER_ENV)
        try:
            url = f"http://127.0.0.1:{server.port}"
            measure_body(url, server.proc.pid, key, size=40 * 2**20)  # warm-up
            body = measure_body(url, server.proc.pid, key)
            log(f"body: {body['body_413_ms']} ms, +{body['body_rss_growth_mb']} MB")
            signin = measure_signin(url, server.proc.pid)
            log(f"sign-in burst: +{signin['signin_rss_growth_mb']} MB")
        finally:
            server.stop()
        cli = measure_cli(data)
        log(f"cli: {cli}")
    figures = {
        **{k: body[k] for k in ("body_413_ms", "body_rss_growth_mb", "body_status")},
        "signin_rss_growth_mb": signin["signin_rss_growth_mb"],
        "signin_statuses": signin["signin_statuses"],
        **cli,
        "cpus": os.cpu_count() or 0,
        "load_average": round(os.getloadavg()[0], 2),
    }
    figures["targets_met"] = {name: figures[name] < limit for name, limit in TARGETS.items()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
