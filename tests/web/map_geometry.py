"""The journey map's drawn geometry read back from its SVG: edge crossings and label boxes.

The map tests judge the picture a person sees, not the layout's own numbers: each edge's
path is read from the SVG (M, L, Q and C commands, absolute, as the page writes them),
curves are flattened into short segments, and two edges cross where their segments do,
away from the touchpoints (edges meeting at a touchpoint they share touch there, which is
no crossing).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from itertools import combinations, pairwise

SVG = "{http://www.w3.org/2000/svg}"
Point = tuple[float, float]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    points: list[Point]


@dataclass(frozen=True)
class Node:
    id: str
    x: float
    y: float
    r: float


def graph(html: str) -> ET.Element:
    """The map's SVG element from a page."""
    found = re.search(r'<svg xmlns="http://www.w3.org/2000/svg" class="journey-graph".*?</svg>',
                      html, re.S)
    assert found, "the page has no journey map"
    return ET.fromstring(found.group(0))


def _classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


def nodes(svg: ET.Element) -> list[Node]:
    out = []
    for g in svg.iter(f"{SVG}g"):
        if "node" in _classes(g):
            circle = g.find(f"{SVG}circle")
            assert circle is not None
            out.append(Node(g.get("data-touchpoint", ""), float(circle.get("cx", 0)),
                            float(circle.get("cy", 0)), float(circle.get("r", 0))))
    return out


def _flatten(d: str, steps: int = 16) -> list[Point]:
    tokens = re.findall(r"[MLQC]|-?\d+(?:\.\d+)?", d)
    points: list[Point] = []
    i, command = 0, "M"
    while i < len(tokens):
        if tokens[i] in "MLQC":
            command = tokens[i]
            i += 1
        count = {"M": 2, "L": 2, "Q": 4, "C": 6}[command]
        values = [float(v) for v in tokens[i:i + count]]
        i += count
        if command in "ML":
            points.append((values[0], values[1]))
            continue
        p0 = points[-1]
        controls = [p0] + [(values[k], values[k + 1]) for k in range(0, count, 2)]
        for s in range(1, steps + 1):
            t = s / steps
            pts = controls
            while len(pts) > 1:  # de Casteljau
                pts = [((1 - t) * a[0] + t * b[0], (1 - t) * a[1] + t * b[1])
                       for a, b in pairwise(pts)]
            points.append(pts[0])
    return points


def edges(svg: ET.Element) -> list[Edge]:
    out = []
    for g in svg.iter(f"{SVG}g"):
        if "edge" in _classes(g):
            path = g.find(f"{SVG}path")
            assert path is not None
            out.append(Edge(g.get("data-source", ""), g.get("data-target", ""),
                            _flatten(path.get("d", ""))))
    return out


def _cross(a: Point, b: Point, c: Point, d: Point) -> Point | None:
    """Where segments ab and cd cross (not merely touch at an end), or None."""
    r = (b[0] - a[0], b[1] - a[1])
    s = (d[0] - c[0], d[1] - c[1])
    denominator = r[0] * s[1] - r[1] * s[0]
    if abs(denominator) < 1e-9:
        return None
    t = ((c[0] - a[0]) * s[1] - (c[1] - a[1]) * s[0]) / denominator
    u = ((c[0] - a[0]) * r[1] - (c[1] - a[1]) * r[0]) / denominator
    if 0 < t < 1 and 0 < u < 1:
        return a[0] + t * r[0], a[1] + t * r[1]
    return None


def crossings(svg: ET.Element, margin: float = 6.0) -> list[tuple[str, str, Point]]:
    """Every point where two drawn edges cross, away from the touchpoints (within a node's
    radius plus `margin` edges meet, they do not cross); each as the two edges' names."""
    circles = nodes(svg)
    drawn = [e for e in edges(svg) if e.source != e.target]  # a loop crosses only itself
    found: list[tuple[str, str, Point]] = []
    for e, f in combinations(drawn, 2):
        seen: list[Point] = []
        for a, b in pairwise(e.points):
            for c, d in pairwise(f.points):
                point = _cross(a, b, c, d)
                if point is None or any(math.dist(point, (n.x, n.y)) <= n.r + margin
                                        for n in circles):
                    continue
                if any(math.dist(point, p) < 2 for p in seen):  # a flattened curve's seam
                    continue
                seen.append(point)
                found.append((f"{e.source}>{e.target}", f"{f.source}>{f.target}", point))
    return found


@dataclass(frozen=True)
class Box:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box, slack: float = 0.5) -> bool:
        return (self.x0 + slack < other.x1 and other.x0 + slack < self.x1
                and self.y0 + slack < other.y1 and other.y0 + slack < self.y1)


def label_boxes(svg: ET.Element, char_w: float = 0.55) -> list[Box]:
    """The boxes of the touchpoint names, their counts and the edge counts, from each text's
    anchor, font size and length (a server has no fonts: `char_w` is an average glyph's width
    per font size; the browser test measures the real boxes)."""
    out = []
    for text in svg.iter(f"{SVG}text"):
        if not _classes(text) & {"node-name", "node-cases", "edge-label"}:
            continue
        content = "".join(text.itertext())
        size = float(text.get("font-size", 11))
        width = len(content) * size * char_w
        x, y = float(text.get("x", 0)), float(text.get("y", 0))
        out.append(Box(content, x - width / 2, y - size * 0.8, x + width / 2, y + size * 0.2))
    return out


def overlapping_labels(svg: ET.Element) -> list[tuple[str, str]]:
    boxes = label_boxes(svg)
    return [(a.text, b.text) for a, b in combinations(boxes, 2) if a.overlaps(b)]
