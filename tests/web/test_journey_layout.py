"""ELK's layout of a long journey (26 touchpoints in 6 stages, the designed path, 65 random
skips, loops back and self-loops): no label box over another label or a touchpoint, the
stages and the designed path left to right. The boxes are ELK's own (journey_layout gives it
each label's room); the drawn map's boxes are checked on the demo and in the browser. The
designed path's row is checked on the demo's real traffic (test_journey_map_layout.py):
among these random edges ELK keeps its order but not one row."""

from __future__ import annotations

import random
from itertools import combinations, pairwise

from kokemus.web import elk, journey_layout
from kokemus.web.journey_layout import Link, Place

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def long_journey(steps: int = 26) -> tuple[list[Place], list[Link]]:
    draw = random.Random(13)
    words = ["Tuotesivu", "Tilausvahvistus", "Asentajan soitto", "Kotiinkuljetus", "Maksu",
             "Palautus varastoon", "Asiakaspalvelu", "Chat", "Peruutuspyyntö"]
    places = [Place(f"t{i}", draw.uniform(7, 27), i * 6 // steps,
                    [words[i % len(words)][:14]], f"n = {draw.randint(1, 9999)}")
              for i in range(steps)]
    designed = [f"t{i}" for i in range(0, steps, 2)]
    links = [Link(a, b, draw.uniform(1.2, 10), f"{draw.randint(1, 999)}", True)
             for a, b in pairwise(designed)]
    pairs = set(pairwise(designed))
    while len(links) < 3 * steps:
        a, b = draw.randrange(steps), draw.randrange(steps)
        if (f"t{a}", f"t{b}") in pairs:
            continue
        pairs.add((f"t{a}", f"t{b}"))
        links.append(Link(f"t{a}", f"t{b}", draw.uniform(1.2, 6), f"{draw.randint(1, 99)}",
                          False))
    return places, links


def test_a_long_journey_has_room_for_every_label() -> None:
    places, links = long_journey()
    assert len(places) == 26 and any(link.source == link.target for link in links)
    laid = elk.layout(journey_layout.graph(places, links))
    boxes: list[tuple[str, Box]] = []
    for child in laid["children"]:
        x, y = child["x"], child["y"]
        boxes.append((child["id"], (x, y, x + child["width"], y + child["height"])))
        for label in child["labels"]:
            lx, ly = x + label["x"], y + label["y"]
            boxes.append((label["id"], (lx, ly, lx + label["width"], ly + label["height"])))
    for edge in laid["edges"]:
        for label in edge.get("labels", []):
            lx, ly = label["x"], label["y"]
            boxes.append((label["id"], (lx, ly, lx + label["width"], ly + label["height"])))
    assert len(boxes) == 2 * 26 + len(links)
    clashes = [(a, b) for (a, p), (b, q) in combinations(boxes, 2)
               if _overlap(p, q) and a.split(":")[0] != b.split(":")[0]]
    assert clashes == []


def test_stages_and_the_designed_path_go_left_to_right() -> None:
    places, links = long_journey()
    drawing = journey_layout.lay_out(places, links, [f"stage {i}" for i in range(6)])
    spans: dict[int, tuple[float, float]] = {}
    for place in places:
        x = drawing.centres[place.id][0]
        lo, hi = spans.get(place.stage, (x, x))
        spans[place.stage] = (min(lo, x), max(hi, x))
    for stage in range(5):
        assert spans[stage][1] < spans[stage + 1][0]
    assert [b.name for b in drawing.bands] == [f"stage {i}" for i in range(6)]
    designed = [drawing.centres[f"t{i}"] for i in range(0, 26, 2)]
    assert [x for x, _ in designed] == sorted(x for x, _ in designed)
    assert set(drawing.routes) == {(link.source, link.target) for link in links}


def test_a_touchpoint_nobody_reached_stays_in_its_stage() -> None:
    """Under a filter some touchpoints have no edge at all: they keep their stage's place,
    and every stage's band has a width (ELK laid such components out beside the graph,
    and a band came out 843 units negative)."""
    places, links = long_journey()
    alone = {"t3", "t17", "t25"}
    kept = [link for link in links if link.source not in alone and link.target not in alone
            and not link.designed]
    drawing = journey_layout.lay_out(places, kept, [f"stage {i}" for i in range(6)])
    assert all(band.width > 0 for band in drawing.bands)
    lefts = [band.x for band in drawing.bands]
    assert lefts == sorted(lefts)
    for place in places:
        band = drawing.bands[place.stage]
        assert band.x <= drawing.centres[place.id][0] <= band.x + band.width, place.id
