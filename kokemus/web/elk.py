"""ELK, the Eclipse Layout Kernel, run on the server: a graph in, positions and routes out.

The journey map needs a layered (Sugiyama) layout with crossing minimisation, priorities for
the designed path and edge labels placed where they do not overlap. ELK does all of that
and is kept up by the Eclipse project; its JavaScript build (elkjs, vendored from npm by
web/assets/vendor.sh into static/vendor) runs here in an embedded V8 (mini-racer, wheels on
PyPI), so the server still draws the SVG itself and the page needs no script.

elkjs hands work to a worker through setTimeout; here the worker is in-process and the
timer calls straight through, so a layout finishes within one evaluation. One V8 context
serves the process, one layout at a time (a lock), and the same graph is laid out once
(a small cache: the map is asked for again with the same filters).
"""

from __future__ import annotations

import atexit
import json
import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import Any

from py_mini_racer import MiniRacer

BUNDLE = Path(__file__).parent / "static" / "vendor" / "elk.bundled.js"
TIMEOUT_S = 20.0  # a layout of a few dozen touchpoints takes well under a second
CACHED = 64

# elkjs looks for a global object, a module system and a timer; V8 alone has none of them.
_PRELUDE = """
globalThis.self = globalThis;
globalThis.setTimeout = function (f) { f(); return 0; };
globalThis.clearTimeout = function () {};
var module = {exports: {}}; var exports = module.exports;
"""
_START = """
var elk = new module.exports();
function kokemusLayout(text) {
  var answer = {};
  elk.layout(JSON.parse(text)).then(
    function (graph) { answer.graph = graph; },
    function (error) { answer.error = String(error && error.stack || error); });
  return answer;
}
"""

_lock = threading.Lock()
_done: OrderedDict[str, dict[str, Any]] = OrderedDict()


class LayoutError(RuntimeError):
    """ELK could not lay out a graph (a bug on our side: the graph is built here)."""


@cache
def _context() -> MiniRacer:
    context = MiniRacer()
    context.eval(_PRELUDE)
    context.eval(BUNDLE.read_text(encoding="utf-8"))
    context.eval(_START)
    # Closed while its event loop still runs: left to the interpreter's last clean-up, the
    # context waits on a loop that has stopped, and the process never exits.
    atexit.register(context.close)
    return context


def layout(graph: dict[str, Any]) -> dict[str, Any]:
    """The ELK JSON graph `graph` laid out: the same graph with x, y on its children,
    sections (start, bend and end points) on its edges and x, y on their labels."""
    text = json.dumps(graph, sort_keys=True, separators=(",", ":"))
    with _lock:
        if text in _done:
            _done.move_to_end(text)
            return _done[text]
        context = _context()
        # The promise settles in the microtasks after the call: read the answer after it.
        context.eval(f"var kokemusAnswer = kokemusLayout({json.dumps(text)});",
                     timeout_sec=TIMEOUT_S)
        answer = json.loads(str(context.eval("JSON.stringify(kokemusAnswer)")))
        if "graph" not in answer:
            raise LayoutError(f"ELK: {answer.get('error', 'no layout')}")
        _done[text] = answer["graph"]
        while len(_done) > CACHED:
            _done.popitem(last=False)
        laid: dict[str, Any] = answer["graph"]
        return laid
