"""Asiakkaan valinta (Customer's Choice, IoT): the store where devices report needs.

Each customer chose an operating mode when joining: the store acts at once (automatic), asks
first (ask_first) or only tells (notify_only). Fridges report low stock, mixers break,
washers wear out; the store refills, replaces or books a service within the mode chosen.
Customers help each other in the community. The further the mode keeps the store from
acting, the longer from the signal to the need met: notify_only customers wait longest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from kokemus.demo import feedback
from kokemus.demo.names import people
from kokemus.demo.scenario import Block, Scenario
from kokemus.demo.timeline import (
    DAY,
    EVENING,
    HOUR,
    MINUTE,
    Labels,
    Period,
    Timeline,
    numbered,
    pick,
    properties,
    uniform,
)
from kokemus.domain.events import Customer

SLUG = "asiakkaan-valinta"
WORKSPACE_FILE = Path(__file__).with_name("customers_choice.yaml")
ENGLISH = 0.15  # share of customers who use the store in English
MODES = ("automatic", "ask_first", "notify_only")
MODE_SHARE = (0.45, 0.35, 0.20)

# device: (share of customers owning one, signal, store action, need met, time to meet it)
DEVICES = {
    "fridge": (0.90, "fridge_low", "refill_ordered", "refill_delivered", (3 * HOUR, 20 * HOUR)),
    "mixer": (0.50, "mixer_broken", "replacement_shipped", "replacement_delivered",
              (20 * HOUR, 48 * HOUR)),
    "washer": (0.70, "washer_worn", "service_booked", "service_completed",
               (24 * HOUR, 96 * HOUR)),
}
FRIDGE_LOW_EVERY_DAYS = 30
MIXER_BROKEN_RATE = 0.05  # of mixers, over the period
WASHER_WORN_RATE = 0.15
APPROVAL_MEDIAN_H = 2.0  # ask_first: the customer answers after a log-normal wait
APPROVED = 0.9
NOTIFIED_ACTS = 0.8  # notify_only: the customer orders herself after 6-72 h
NOTIFIED_WAIT_H = (6, 72)

# The surveys after a need met, cut from latent scores (docs/demo.md): ease, lower the more
# the mode leaves to the customer and the longer they waited from the signal to the need
# met, and the experience, 0.8 ease + 0.6 the customer's own mood and noise. CES reads ease,
# the recommendation the experience; both are answered as below where nothing went wrong.
MODE_EASE = {"automatic": 0.0, "ask_first": -0.3, "notify_only": -0.55}
EASE_PER_DAY_WAITED = -0.15
EASE_WEIGHT = 0.8
MOOD = 0.5  # of the rest of the experience (the same customer's answers share it)
CES = (0.01, 0.02, 0.03, 0.06, 0.13, 0.35, 0.40)  # 1..7
NPS = (0.01, 0.01, 0.01, 0.01, 0.02, 0.03, 0.04, 0.08, 0.20, 0.27, 0.32)  # 0..10
ANSWER_RATE = {"automatic": 0.35, "ask_first": 0.35, "notify_only": 0.30}
# What some write to "what could we do better?", asked when the effort was 1-3.
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "automatic": {
        "fi": ("Täydennys tuli, mutta väärää merkkiä.",
               "Kuljettaja jätti laatikon rappuun, vaikka olin kotona."),
        "en": ("The refill came, but the wrong brand.",
               "The driver left the box on the stairs although I was at home."),
    },
    "ask_first": {
        "fi": ("Hyväksyntäpyyntö tuli keskellä työpäivää, ja vastaaminen unohtui.",
               "Kysytte liian usein. Hoitakaa pienet asiat kysymättä."),
        "en": ("The approval request came in the middle of a working day and I forgot it.",
               "You ask too often. Take care of the small things without asking."),
    },
    "notify_only": {
        "fi": ("Ilmoitus tuli, mutta tilaaminen jäi minun muistini varaan.",
               "Jääkaappi oli tyhjä kaksi päivää ennen kuin ehdin tilata."),
        "en": ("The notice came, but ordering was left for me to remember.",
               "The fridge was empty for two days before I had time to order."),
    },
}
ANSWERING = feedback.Answering(
    rate=ANSWER_RATE, items={"effort": feedback.Item(CES, "ease", 0.85),
                             "recommend": feedback.Item(NPS, feedback.EXPERIENCE, 0.85, low=0)},
    comments={"better": feedback.Comments(COMMENTS, 0.5)})
SURVEYS = {"fridge": "after-refill", "washer": "after-service"}  # mixers are not asked


def _needs(tl: Timeline, rng: np.random.Generator, mode: np.ndarray, who: np.ndarray,
           signalled: np.ndarray, device: str, first: int,
           mood: np.ndarray, feel: np.random.Generator) -> list[feedback.Triggered]:
    """Signal -> (approval or notice) -> store action -> need met, per signal; returns the
    needs met, as triggers of the device's survey. Every event of a need carries its id,
    so the time from signal to need met is a join, not a guess."""
    p = tl.period
    _, signal, action, met, (fastest, slowest) = DEVICES[device]
    n = len(who)
    m = mode[who]
    # Blocks of customers [first, first + size) get need numbers [100 * first, ...): unique
    # while a customer has fewer than 100 needs of a device in the period.
    need = numbered(f"{SLUG}-{device}-", 100 * first, n, width=8)

    def of(rows: np.ndarray) -> pa.Array:
        return properties(need=need.take(pa.array(rows)))

    tl.add(signal, who, signalled, "device", props=properties(
        device=Labels((device,), np.zeros(n, np.int64)), need=need))
    acted = signalled + uniform(rng, MINUTE, 10 * MINUTE, n)
    goes = np.ones(n, bool)
    channel = np.zeros(n, np.int64)  # automation

    ask = np.flatnonzero(m == 1)
    asked = signalled[ask] + uniform(rng, MINUTE, 5 * MINUTE, len(ask))
    tl.add("approval_requested", who[ask], asked, "app", props=of(ask))
    wait = (rng.lognormal(np.log(APPROVAL_MEDIAN_H * HOUR), 0.8, len(ask))).astype(np.int64)
    answered = p.daytime(rng, asked + wait, 7, 22)
    yes = rng.random(len(ask)) < APPROVED
    tl.add("customer_approved", who[ask[yes]], answered[yes], "app", props=of(ask[yes]))
    tl.add("customer_declined", who[ask[~yes]], answered[~yes], "app", props=of(ask[~yes]))
    goes[ask[~yes]] = False
    acted[ask] = answered + uniform(rng, MINUTE, 10 * MINUTE, len(ask))

    tell = np.flatnonzero(m == 2)
    told = signalled[tell] + uniform(rng, MINUTE, 5 * MINUTE, len(tell))
    tl.add("customer_notified", who[tell], told, "app", props=of(tell))
    acts = rng.random(len(tell)) < NOTIFIED_ACTS
    goes[tell[~acts]] = False
    low, high = NOTIFIED_WAIT_H
    acted[tell] = p.daytime(rng, told + uniform(rng, low * HOUR, high * HOUR, len(tell)), 7, 22)
    channel[tell] = 1  # the customer orders in the app

    g = np.flatnonzero(goes)
    tl.add(action, who[g], acted[g], Labels(("automation", "app"), channel[g]), props=of(g))
    done = p.daytime(rng, acted[g] + uniform(rng, fastest, slowest, len(g)), 8, 20)
    step = tl.add(met, who[g], done, "home" if device == "washer" else "delivery",
                  props=of(g))
    if device not in SURVEYS:
        return []
    noise = feel.standard_normal((2, len(g)))
    ease = (noise[0] + np.array(list(MODE_EASE.values()))[m[g]]
            + EASE_PER_DAY_WAITED * (done - signalled[g]) / DAY)
    rest = MOOD * mood[who[g]] + np.sqrt(1 - MOOD**2) * noise[1]
    experience = EASE_WEIGHT * ease + np.sqrt(1 - EASE_WEIGHT**2) * rest
    return [feedback.Triggered(SURVEYS[device], step, np.arange(len(g)), who[g], done,
                               m[g], MODES, ANSWERING,
                               latent={feedback.EXPERIENCE: experience, "ease": ease})]


def make_block(rng: np.random.Generator, period: Period, first: int, size: int) -> Block:
    tl = Timeline(period)
    p = period
    ids = numbered(f"{SLUG}-", first, size)
    mode = pick(rng, MODES, MODE_SHARE, size)
    owns = {d: rng.random(size) < share for d, (share, *_) in DEVICES.items()}

    # A fifth joined during the period and chose their mode then; the rest were members.
    joined = np.full(size, p.start)
    new = np.flatnonzero(rng.random(size) < 0.2)
    joined[new] = p.starts(rng, len(new), EVENING, within=(0.0, 0.9))
    tl.add("mode_chosen", new, joined[new], "app", props=properties(mode=mode.take(new)))
    active = p.end - joined

    fridge = np.flatnonzero(owns["fridge"])
    lows = rng.poisson(active[fridge] / (FRIDGE_LOW_EVERY_DAYS * DAY))
    f_who = np.repeat(fridge, lows)
    f_at = joined[f_who] + (active[f_who] * rng.random(len(f_who))).astype(np.int64)
    feel = rng.spawn(1)[0]  # the latent scores' own generator: the events stay the seed's
    mood = feel.standard_normal(size)
    met = [_needs(tl, rng, mode.index, f_who, f_at, "fridge", first, mood, feel)]
    for device, rate in (("mixer", MIXER_BROKEN_RATE), ("washer", WASHER_WORN_RATE)):
        who = np.flatnonzero(owns[device] & (rng.random(size) < rate))
        at = joined[who] + (active[who] * rng.random(len(who))).astype(np.int64)
        met.append(_needs(tl, rng, mode.index, who, at, device, first, mood, feel))

    # A short survey in the app after a refill or a service visit; the mode shows in it.
    surveyed = feedback.invite(rng, p, feedback.workspace_of(WORKSPACE_FILE),
                            [t for triggers in met for t in triggers])
    feedback.feedback_events(tl, surveyed, "app")

    # Customers help each other: a question in the community gets answers from others.
    asking = np.flatnonzero(rng.random(size) < 0.12)
    asked = p.starts(rng, len(asking), EVENING)
    asked = np.maximum(asked, joined[asking])
    tl.add("community_question", asking, asked, "community")
    answers = rng.poisson(1.3, len(asking))
    q = np.repeat(np.arange(len(asking)), answers)
    helper = (asking[q] + rng.integers(1, max(size, 2), len(q))) % size
    tl.add("community_answer", helper, asked[q] + rng.lognormal(
        np.log(1.5 * HOUR), 1.0, len(q)).astype(np.int64), "community",
        props=properties(question_of=ids.take(pa.array(asking[q]))))
    return Block(tl, ids, _customers(rng, ids, mode, owns), feedback=surveyed)


def _customers(rng: np.random.Generator, ids: pa.Array, mode: Labels,
               owns: dict[str, np.ndarray]) -> list[Customer]:
    n = len(ids)
    devices = [",".join(d for d in DEVICES if owns[d][i]) for i in range(n)]
    # The store knows no borders: some of its ambassadors use it in English.
    language = np.where(rng.random(n) < ENGLISH, "en", "fi").tolist()
    return [
        Customer(id=cid, name=name, email=f"{local}.{cid.rsplit('-', 1)[1]}@example.fi",
                 language=lang, segments=["ambassadors", MODES[m]],
                 attributes={"mode": MODES[m], "devices": dev})
        for cid, (name, local), m, dev, lang in zip(ids.to_pylist(), people(rng, n),
                                                    mode.index.tolist(), devices, language,
                                                    strict=True)
    ]


SCENARIO = Scenario(
    slug=SLUG,
    workspace_file=WORKSPACE_FILE,
    share=0.3,
    make_block=make_block,
)
