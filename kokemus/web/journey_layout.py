"""Where the journey map puts its touchpoints, edges and labels: a layered layout by ELK.

The graph goes left to right, one partition per stage (a stage's touchpoints never come
before an earlier stage's). The designed path is given the highest priorities ELK has for
an edge (pointing forward, short, straight), and real paths that leave it are routed
around it. ELK straightens an edge between its ports, which sit off a touchpoint's middle
where many edges meet; so the graph is laid out a second time with the designed steps'
ports fixed at the middle of the touchpoints' sides (the other ends where the first layout
put them), and the designed path's centres come out on one row. Crossings are minimised
by ELK's layer sweep; touchpoint names and edge counts are labels ELK places, so they take
room in the layout instead of being written over each other.

Geometry only: what a touchpoint or edge means, and its colour, stay in journey_map.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from kokemus.web import elk

HEAD_H = 40.0  # room for the stage names above the drawing
PAD = 16.0
NAME_SIZE = 11.5  # font sizes the drawing uses, for the labels' room
COUNT_SIZE = 10.5
LINE_H = 13.0
CHAR_W = 0.6  # a character's width per font size: generous for system-ui
DESIGNED_PRIORITY = 20

OPTIONS = {
    "elk.algorithm": "layered",
    "elk.direction": "RIGHT",
    "elk.randomSeed": "1",  # the same graph, the same picture
    "elk.edgeRouting": "SPLINES",
    "elk.partitioning.activate": "true",
    # One layering for every touchpoint: a touchpoint nobody reached under a filter is a
    # component of its own, which ELK would otherwise place beside the rest, out of its stage.
    "elk.separateConnectedComponents": "false",
    "elk.layered.thoroughness": "10",
    "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX",
    "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
    "elk.layered.crossingMinimization.forceNodeModelOrder": "false",
    "elk.layered.spacing.nodeNodeBetweenLayers": "22",
    "elk.spacing.nodeNode": "26",
    "elk.spacing.edgeNode": "14",
    "elk.spacing.edgeEdge": "10",
    "elk.spacing.edgeLabel": "3",
    "elk.spacing.labelNode": "4",
    "elk.layered.spacing.edgeNodeBetweenLayers": "8",
    "elk.layered.spacing.edgeEdgeBetweenLayers": "8",
    "elk.edgeLabels.inline": "true",
    "elk.padding": f"[top={HEAD_H},left={PAD},bottom={PAD},right={PAD}]",
}


def text_width(text: str, size: float) -> float:
    """Room for `text` at font size `size` (the server has no fonts to measure with)."""
    return len(text) * size * CHAR_W + 4


@dataclass(frozen=True)
class Place:
    """A touchpoint to lay out: its circle's radius, its name's lines, its count line."""

    id: str
    r: float
    stage: int  # the stage's index: the partition it stays in
    lines: Sequence[str]
    sub: str


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    width: float  # the stroke's width
    label: str  # the count written on it ('' for none)
    designed: bool


@dataclass(frozen=True)
class Route:
    """An edge as drawn: an SVG path from rim to rim, the arrowhead, the label's centre."""

    path: str
    arrow: str
    label_x: float
    label_y: float
    loop: bool = False


@dataclass(frozen=True)
class Band:
    name: str
    x: float
    width: float


@dataclass
class Drawing:
    centres: dict[str, tuple[float, float]] = field(default_factory=dict)
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    bands: list[Band] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _edge_id(link: Link) -> str:
    return f"{link.source}>{link.target}"


Ports = dict[str, list[dict[str, Any]]]  # a touchpoint's fixed ports, by its id


def graph(places: Sequence[Place], links: Sequence[Link],
          ports: Ports | None = None) -> dict[str, Any]:
    """The ELK graph: designed touchpoints first (the model order breaks ties their way).
    With `ports`, those touchpoints' edges start and end at the given fixed ports."""
    ports = ports or {}
    port_ids = {p["id"] for fixed in ports.values() for p in fixed}
    children = []
    for place in places:
        label_w = max([text_width(line, NAME_SIZE) for line in place.lines]
                      + [text_width(place.sub, COUNT_SIZE)])
        node_options = {"elk.partitioning.partition": str(place.stage),
                        "elk.nodeLabels.placement": "OUTSIDE V_BOTTOM H_CENTER"}
        if place.id in ports:
            node_options["elk.portConstraints"] = "FIXED_POS"
        children.append({
            "id": place.id, "width": 2 * place.r, "height": 2 * place.r,
            "labels": [{"id": f"{place.id}:name", "text": place.id, "width": label_w,
                        "height": LINE_H * len(place.lines) + LINE_H + 2}],
            "layoutOptions": node_options, "ports": ports.get(place.id, []),
        })
    edges = []
    for link in links:
        options = {"elk.edge.thickness": _num(link.width)}
        if link.designed:
            options |= {"elk.layered.priority.direction": str(DESIGNED_PRIORITY),
                        "elk.layered.priority.shortness": str(DESIGNED_PRIORITY),
                        "elk.layered.priority.straightness": str(DESIGNED_PRIORITY)}
        start, end = f"{_edge_id(link)}:start", f"{_edge_id(link)}:end"
        edge: dict[str, Any] = {
            "id": _edge_id(link),
            "sources": [start if start in port_ids else link.source],
            "targets": [end if end in port_ids else link.target],
            "layoutOptions": options}
        if link.label:
            edge["labels"] = [{"id": f"{_edge_id(link)}:count", "text": link.label,
                               "width": text_width(link.label, COUNT_SIZE) + 2,
                               "height": COUNT_SIZE + 4,
                               "layoutOptions": {"elk.edgeLabels.placement": "CENTER"}}]
        edges.append(edge)
    return {"id": "journey", "layoutOptions": OPTIONS, "children": children, "edges": edges}


def _toward(px: float, py: float, qx: float, qy: float, gap: float) -> tuple[float, float]:
    """The point `gap` from p toward q."""
    ux, uy = qx - px, qy - py
    n = math.hypot(ux, uy) or 1.0
    return px + ux / n * gap, py + uy / n * gap


def _route(points: list[tuple[float, float]], spline: bool, a: tuple[float, float, float],
           b: tuple[float, float, float], width: float) -> tuple[str, str]:
    """The path from a's rim to b's rim through ELK's points, and the arrowhead at b.

    ELK's ends lie on the nodes' boxes; they are moved onto the circles (toward the
    neighbouring point), and the last stretch stops short of b for the arrowhead."""
    start = _toward(a[0], a[1], *points[1], a[2] + 2)
    tip = _toward(b[0], b[1], *points[-2], b[2] + 2)
    head = 6 + width * 0.8
    before = points[-2]
    bx, by = _toward(tip[0], tip[1], before[0], before[1], head)
    ux, uy = tip[0] - bx, tip[1] - by
    n = math.hypot(ux, uy) or 1.0
    ux, uy = ux / n, uy / n
    half = 3.5 + width * 0.55
    arrow = (f"{_num(tip[0])},{_num(tip[1])} {_num(bx - uy * half)},{_num(by + ux * half)} "
             f"{_num(bx + uy * half)},{_num(by - ux * half)}")
    inner = points[1:-1]
    if spline and len(inner) % 3 == 2:
        # ELK's spline: cubic pieces, each two control points and an end.
        controls = [*inner, (bx, by)]
        pieces = " ".join(
            "C" + " ".join(f"{_num(x)},{_num(y)}" for x, y in controls[i:i + 3])
            for i in range(0, len(controls), 3))
        return f"M{_num(start[0])},{_num(start[1])} {pieces}", arrow
    line = " ".join(f"L{_num(x)},{_num(y)}" for x, y in [*inner, (bx, by)])
    return f"M{_num(start[0])},{_num(start[1])} {line}", arrow


# The second layout, tried twice: held to the model order in each layer and free. Neither
# is best everywhere (the demo shop's map: 6 crossings held, 12 free; the machinery
# dealer's per account: 24 held, 16 free), so the one with fewer crossings is kept.
SECOND_PASSES: list[dict[str, str]] = [
    {"elk.layered.crossingMinimization.forceNodeModelOrder": "true"}, {}]
PORT_GAP = 6.0  # the least room between the designed path's port and its neighbours
Box = tuple[float, float, float, float]  # x, y, width, height


def _crossings(laid: dict[str, Any]) -> int:
    """How often the laid-out edges cross, counted on their control polygons (ELK's start,
    bend and end points) away from the touchpoints: enough to compare two layouts."""
    boxes = [(float(c["x"]) - 6, float(c["y"]) - 6, float(c["x"]) + float(c["width"]) + 6,
              float(c["y"]) + float(c["height"]) + 6) for c in laid["children"]]
    lines = []
    for edge in laid.get("edges", []):
        if edge["sources"] == edge["targets"]:
            continue
        points = [(float(p["x"]), float(p["y"])) for section in edge.get("sections") or []
                  for p in (section["startPoint"], *section.get("bendPoints", []),
                            section["endPoint"])]
        lines.append([(a, b, min(a[0], b[0]), max(a[0], b[0]), min(a[1], b[1]),
                       max(a[1], b[1])) for a, b in pairwise(points)])
    count = 0
    for i, first in enumerate(lines):
        for second in lines[i + 1:]:
            for a, b, ax0, ax1, ay0, ay1 in first:
                for c, d, cx0, cx1, cy0, cy1 in second:
                    if ax1 < cx0 or cx1 < ax0 or ay1 < cy0 or cy1 < ay0:
                        continue
                    r, q = (b[0] - a[0], b[1] - a[1]), (d[0] - c[0], d[1] - c[1])
                    den = r[0] * q[1] - r[1] * q[0]
                    if abs(den) < 1e-9:
                        continue
                    t = ((c[0] - a[0]) * q[1] - (c[1] - a[1]) * q[0]) / den
                    u = ((c[0] - a[0]) * r[1] - (c[1] - a[1]) * r[0]) / den
                    if 0 < t < 1 and 0 < u < 1:
                        x, y = a[0] + t * r[0], a[1] + t * r[1]
                        count += not any(x0 < x < x1 and y0 < y < y1
                                         for x0, y0, x1, y1 in boxes)
    return count


def _side(point: tuple[float, float], box: Box) -> str:
    """The side of `box` that `point` (an edge's end) lies on."""
    x, y, w, h = box
    distances = {"WEST": abs(point[0] - x), "EAST": abs(point[0] - x - w),
                 "NORTH": abs(point[1] - y), "SOUTH": abs(point[1] - y - h)}
    return min(distances, key=lambda side: distances[side])


def _around_middle(along: list[float], middle: int, length: float) -> list[float]:
    """Positions on a side `length` long, in the order of `along`: the one at `middle` at
    the side's middle, those before it pressed into the half before, those after into the
    half after (left where they are if they already leave room)."""
    mid = length / 2
    gap = min(PORT_GAP, mid / (max(middle, len(along) - middle - 1) + 1))
    before, after = along[:middle], along[middle + 1:]
    if before and before[-1] > mid - gap:
        top = max(before[-1], 1e-9)
        before = [b * (mid - gap) / top for b in before]
    if after and after[0] < mid + gap:
        low = min(after[0], length - 1e-9)
        after = [length - (length - a) * (mid - gap) / (length - low) for a in after]
    return [*before, mid, *after]


def _centred_ports(laid: dict[str, Any], links: Sequence[Link]) -> Ports:
    """Fixed ports for the designed path's touchpoints, every edge's end where a first
    layout put it, in its order, except that the designed steps leave from the middle of
    the east side and arrive at the middle of the west: ELK keeps a designed step straight
    between its ports, so laid out again the touchpoints' centres are on one row."""
    boxes: dict[str, Box] = {
        c["id"]: (float(c["x"]), float(c["y"]), float(c["width"]), float(c["height"]))
        for c in laid["children"]}
    ends_of = {_edge_id(link): (link.source, link.target) for link in links}
    steps = {_edge_id(link) for link in links if link.designed and link.source != link.target}
    on_path = {node for step in steps for node in ends_of[step]}
    ends: dict[tuple[str, str], list[tuple[float, str, bool]]] = {}
    for edge in laid.get("edges", []):
        sections = edge.get("sections") or []
        if not sections:
            continue
        source, target = ends_of[edge["id"]]
        for node, point, end, centred in (
                (source, sections[0]["startPoint"], "start", "EAST"),
                (target, sections[-1]["endPoint"], "end", "WEST")):
            if node not in on_path:
                continue
            box = boxes[node]
            side = _side((float(point["x"]), float(point["y"])), box)
            at = float(point["y"]) - box[1] if side in ("WEST", "EAST") \
                else float(point["x"]) - box[0]
            ends.setdefault((node, side), []).append(
                (at, f"{edge['id']}:{end}", edge["id"] in steps and side == centred))
    ports: Ports = {}
    for (node, side), found in ends.items():
        _, _, w, h = boxes[node]
        found.sort()
        along = [f[0] for f in found]
        middle = next((i for i, f in enumerate(found) if f[2]), None)
        if middle is not None:
            along = _around_middle(along, middle, h if side in ("WEST", "EAST") else w)
        for (_, port_id, _), at in zip(found, along, strict=True):
            x, y = {"WEST": (0, at), "EAST": (w, at), "NORTH": (at, 0), "SOUTH": (at, h)}[side]
            ports.setdefault(node, []).append(
                {"id": port_id, "x": x, "y": y, "width": 0, "height": 0,
                 "layoutOptions": {"elk.port.side": side}})
    return ports


def lay_out(places: Sequence[Place], links: Sequence[Link],
            stage_names: Sequence[str]) -> Drawing:
    laid = elk.layout(graph(places, links))
    if any(link.designed and link.source != link.target for link in links):
        again = graph(places, links, _centred_ports(laid, links))
        tries = [elk.layout(again | {"layoutOptions": {**OPTIONS, **extra}})
                 for extra in SECOND_PASSES]
        laid = min(tries, key=_crossings)
    drawing = Drawing(width=float(laid["width"]), height=float(laid["height"]))
    radius = {p.id: p.r for p in places}
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for child in laid["children"]:
        x, y, w, h = (float(child[k]) for k in ("x", "y", "width", "height"))
        boxes[child["id"]] = (x, y, w, h)
        drawing.centres[child["id"]] = (x + w / 2, y + h / 2)
    spline = OPTIONS["elk.edgeRouting"] == "SPLINES"
    ends = {_edge_id(link): (link.source, link.target) for link in links}
    for edge in laid.get("edges", []):
        source, target = ends[edge["id"]]
        width = float(edge["layoutOptions"]["elk.edge.thickness"])
        sections = edge.get("sections") or []
        points: list[tuple[float, float]] = []
        for section in sections:
            part = [section["startPoint"], *section.get("bendPoints", []), section["endPoint"]]
            points += [(float(p["x"]), float(p["y"])) for p in part]
        labels = edge.get("labels") or []
        a = (*drawing.centres[source], radius[source])
        b = (*drawing.centres[target], radius[target])
        if labels:
            lx = float(labels[0]["x"]) + float(labels[0]["width"]) / 2
            ly = float(labels[0]["y"]) + float(labels[0]["height"]) / 2
        else:
            lx, ly = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
        if len(points) < 2:
            points = [(a[0], a[1]), (b[0], b[1])]
        path, arrow = _route(points, spline and len(sections) == 1, a, b, width)
        drawing.routes[(source, target)] = Route(path, arrow, lx, ly, source == target)
    drawing.bands = _bands(places, boxes, stage_names, drawing.width)
    return drawing


def _bands(places: Sequence[Place], boxes: dict[str, tuple[float, float, float, float]],
           stage_names: Sequence[str], width: float) -> list[Band]:
    """A band per stage with touchpoints, from the middle of the gap before its first
    touchpoint to the middle of the gap after its last (partitions do not overlap)."""
    spans: dict[int, tuple[float, float]] = {}
    for place in places:
        x, _, w, _ = boxes[place.id]
        lo, hi = spans.get(place.stage, (x, x + w))
        spans[place.stage] = (min(lo, x), max(hi, x + w))
    order = sorted(spans)
    bands = []
    for i, stage in enumerate(order):
        lo, hi = spans[stage]
        left = 0.0 if i == 0 else (spans[order[i - 1]][1] + lo) / 2
        right = width if i == len(order) - 1 else (hi + spans[order[i + 1]][0]) / 2
        bands.append(Band(stage_names[stage], left, right - left))
    return bands
