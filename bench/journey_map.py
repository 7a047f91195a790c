"""The journey map's layout: what ELK in an embedded V8 costs a page, on the demo.

    python bench/journey_map.py                  # the demo at 1,500 customers
    python bench/journey_map.py --customers 20000

Generates the demo in a temporary folder, then for the appliance shop's purchase journey
(20 touchpoints) and the machinery dealer's journey per account: the first layout of the
process (V8 started, the 1.6 MB ELK bundle read), the layout again with its cache emptied
(median of --repeat), the layout from the cache, and the whole page's view (analytics and
drawing, the layout cached). Also the drawn map's edges and their crossings, read back from
the SVG as the tests read them. Timings depend on the machine's load: the load average is
printed beside them. The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kokemus import bootstrap
from kokemus.config import Settings
from kokemus.demo import generate
from kokemus.services import workspaces
from kokemus.web import elk, journey_map
from tests.web import map_geometry


def measure(kk: bootstrap.Kokemus, slug: str, journey_id: str, filters: journey_map.Filters,
            repeat: int) -> dict[str, Any]:
    active = workspaces.get(kk.db, slug)
    journey = next(j for j in active.document.journeys if j.id == journey_id)
    graphs: list[dict[str, Any]] = []
    real = elk.layout

    def recorded(graph: dict[str, Any]) -> dict[str, Any]:
        graphs.append(graph)
        return real(graph)

    setattr(elk, "layout", recorded)  # noqa: B010  (journey_layout calls elk.layout)
    try:
        elk._done.clear()
        started = time.perf_counter()
        view = journey_map.build(kk, active, journey, filters, "fi")
        page_s = time.perf_counter() - started
    finally:
        setattr(elk, "layout", real)  # noqa: B010
    graph = graphs[-1]
    uncached = []
    for _ in range(repeat):
        elk._done.clear()
        started = time.perf_counter()
        elk.layout(graph)
        uncached.append(time.perf_counter() - started)
    started = time.perf_counter()
    elk.layout(graph)
    cached = time.perf_counter() - started
    started = time.perf_counter()
    journey_map.build(kk, active, journey, filters, "fi")
    page_cached = time.perf_counter() - started
    svg = map_geometry.graph(str(view.graph))
    return {"touchpoints": len(graph["children"]), "edges_laid_out": len(graph["edges"]),
            "edges_drawn": len(map_geometry.edges(svg)),
            "crossings": len(map_geometry.crossings(svg)),
            "overlapping_labels": len(map_geometry.overlapping_labels(svg)),
            "page_first_s": round(page_s, 3), "layout_s": round(statistics.median(uncached), 3),
            "layout_cached_ms": round(cached * 1000, 3),
            "page_layout_cached_s": round(page_cached, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), secret_key="bench")
        with bootstrap.build(settings) as kk:
            print(f"demo, {args.customers} customers ...", file=sys.stderr)
            generate.run(kk, customers=args.customers, end=date(2026, 6, 30))
            elk._context.cache_clear()
            started = time.perf_counter()
            elk._context()
            start_s = time.perf_counter() - started
            shop = measure(kk, "kodinkone", "purchase", journey_map.Filters(), args.repeat)
            dealer = measure(kk, "konekauppa", "excavator-purchase",
                             journey_map.Filters(subject="account"), args.repeat)
    figures = {"customers": args.customers, "v8_and_elk_start_s": round(start_s, 3),
               "shop": shop, "dealer_per_account": dealer,
               "loadavg_1m": round(os.getloadavg()[0], 2), "cores": os.cpu_count()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
