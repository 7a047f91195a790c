"""Finnish-sounding people and companies for the demo: names drawn from short lists."""

from __future__ import annotations

import numpy as np

FIRST_NAMES = (
    "Aino", "Eino", "Helmi", "Väinö", "Sofia", "Leevi", "Olivia", "Onni", "Aada", "Elias",
    "Lilja", "Toivo", "Ella", "Oliver", "Venla", "Eetu", "Kerttu", "Juho", "Iida", "Matti",
    "Liisa", "Pekka", "Sanna", "Jari", "Tiina", "Mikko", "Anna", "Ville", "Emma", "Antti",
)
SURNAMES = (
    "Korhonen", "Virtanen", "Mäkinen", "Nieminen", "Mäkelä", "Hämäläinen", "Laine",
    "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Lehtinen", "Saarinen", "Salminen",
    "Heinonen", "Niemi", "Heikkilä", "Kinnunen", "Salonen", "Turunen", "Salo", "Laitinen",
    "Tuominen", "Rantanen", "Karjalainen", "Jokinen", "Mattila", "Savolainen", "Lahtinen",
    "Ahonen",
)
_ASCII = str.maketrans({"ä": "a", "ö": "o", "å": "a"})


def people(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    """(full name, e-mail local part) for `n` people."""
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(SURNAMES), n)
    pairs = []
    for f, s in zip(first.tolist(), last.tolist(), strict=True):
        given, family = FIRST_NAMES[f], SURNAMES[s]
        pairs.append((f"{given} {family}", f"{given}.{family}".lower().translate(_ASCII)))
    return pairs
