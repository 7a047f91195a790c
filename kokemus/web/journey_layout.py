"""Where the journey map puts its touchpoints, edges and labels: a layered layout by ELK.

The graph goes left to right, one partition per stage (a stage's touchpoints never come
before an earlier stage's). The designed path is given the highest priorities ELK has for
an edge (pointing forward, short, straight), so it reads as one straight line, and real
paths that leave it are routed around it. Crossings are minimised by ELK's layer sweep;
touchpoint names and edge counts are labels ELK places, so they take room in the layout
instead of being written over each other.

Geometry only: what a touchpoint or edge means, and its colour, stay in journey_map.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
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


def graph(places: Sequence[Place], links: Sequence[Link]) -> dict[str, Any]:
    """The ELK graph: designed touchpoints first (the model order breaks ties their way)."""
    children = []
    for place in places:
        label_w = max([text_width(line, NAME_SIZE) for line in place.lines]
                      + [text_width(place.sub, COUNT_SIZE)])
        children.append({
            "id": place.id, "width": 2 * place.r, "height": 2 * place.r,
            "labels": [{"id": f"{place.id}:name", "text": place.id, "width": label_w,
                        "height": LINE_H * len(place.lines) + LINE_H + 2}],
            "layoutOptions": {"elk.partitioning.partition": str(place.stage),
                              "elk.nodeLabels.placement": "OUTSIDE V_BOTTOM H_CENTER"},
        })
    edges = []
    for link in links:
        options = {"elk.edge.thickness": _num(link.width)}
        if link.designed:
            options |= {"elk.layered.priority.direction": str(DESIGNED_PRIORITY),
                        "elk.layered.priority.shortness": str(DESIGNED_PRIORITY),
                        "elk.layered.priority.straightness": str(DESIGNED_PRIORITY)}
        edge: dict[str, Any] = {"id": _edge_id(link), "sources": [link.source],
                                "targets": [link.target], "layoutOptions": options}
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


def lay_out(places: Sequence[Place], links: Sequence[Link],
            stage_names: Sequence[str]) -> Drawing:
    laid = elk.layout(graph(places, links))
    drawing = Drawing(width=float(laid["width"]), height=float(laid["height"]))
    radius = {p.id: p.r for p in places}
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for child in laid["children"]:
        x, y, w, h = (float(child[k]) for k in ("x", "y", "width", "height"))
        boxes[child["id"]] = (x, y, w, h)
        drawing.centres[child["id"]] = (x + w / 2, y + h / 2)
    spline = OPTIONS["elk.edgeRouting"] == "SPLINES"
    for edge in laid.get("edges", []):
        source, target = edge["sources"][0], edge["targets"][0]
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
