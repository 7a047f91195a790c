"""Kodinkonekauppa (B2C): the washing machine case of the source article.

A web shop promises express delivery and installation within 48 h and to tell about any
delay within 2 h. One of its three carriers, Kiito, damages 10 % of what it carries. The shop
then waits for the damaged machine to come back before it sends a new one, tells the
customer nothing, and refuses to cancel; those customers call, chat and score low.

`RULE_SCENARIO` (workspace `kodinkone-rule`, made by `kokemus demo --compare-policy`) is the
same shop, the same customers and the same damages with the workspace's rule
`damaged-delivery` on: the customer is told within the hour, the new machine leaves at once,
the cancellation is offered and logistics gets a case (docs/demo.md, "With the rule and
without").
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kokemus.demo import feedback
from kokemus.demo.names import people
from kokemus.demo.scenario import Block, Cases, Scenario
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
from kokemus.domain.durations import parse_duration
from kokemus.domain.events import Customer
from kokemus.domain.rules import OpenCase, SendSurvey
from kokemus.domain.workspace import Workspace
from kokemus.workspace import document

SLUG = "kodinkone"
WORKSPACE_FILE = Path(__file__).with_name("appliance_shop.yaml")

CARRIERS = ("Kiito", "Rahtisiili", "Pakettiässä")
CARRIER_SHARE = (0.35, 0.40, 0.25)
# The planted truth: Kiito damages 10 % of its deliveries, the others hardly any.
DAMAGE_RATE = {"Kiito": 0.10, "Rahtisiili": 0.003, "Pakettiässä": 0.003}
DELAY_RATE = 0.06  # any carrier; the shop tells about these (DELAY_TOLD of them)
DELAY_TOLD = 0.85

PRODUCTS = ("washing_machine", "dishwasher", "fridge", "dryer", "stove")
PRODUCT_SHARE = (0.35, 0.20, 0.25, 0.10, 0.10)
PRICE_EUR = np.array([649, 579, 899, 549, 499])
ACCESSORIES = ("detergent_dispenser", "water_filter", "stacking_kit")

# The answers (docs/demo.md, "Answers that move together"). Every journey leaves latent
# scores, standard normal where nothing went wrong: the quality of each touchpoint, and the
# experience, a weighted sum of them and the customer's mood. What went wrong shifts the
# touchpoint it happened at; every answer is cut from one of the scores (feedback.Item).
MOOD = 0.45  # weight of the customer's own disposition (the same for all their orders)
WEIGHT = {"checkout": 0.20, "delivery": 0.60, "installation": 0.45, "customer-service": 0.30}
REST = math.sqrt(1 - MOOD**2 - sum(w * w for w in WEIGHT.values()))  # the experience's noise
PER_DAY_LATE = -0.4  # the delivery's quality, per day it came later than the customer
EXPECTED_DAYS = {"express": 1.5, "standard": 3.0}  # expected from the payment (36 h promised)
LATE_DAYS_COUNTED = 3.0  # beyond three days late it is simply late
EXPRESS_LATE = -1.0  # an express order delivered later than the 36 h promised: paid for,
# not got (the broken promise costs recommendations: promises' consequences, kpis_unlinked)
DAMAGED_DELIVERY = -0.9  # besides being late: a damage never told, the machine resent late
UNTOLD_DELAY = -1.0  # besides being late: a delay nobody told about
TOLD_DELAY = -0.1  # besides being late: a delay told within hours
DAMAGED_INSTALLATION = -0.6  # the installation rebooked after the damage
PAYMENT_FAILED = -1.0  # the checkout's quality when a payment failed
PER_CONTACT = -0.5  # customer service's quality, per contact a damage made them make
CANCELLATION_REFUSED = -1.0
EASE = 0.8  # ease (CES) = 0.8 experience + 0.6 noise, less per contact and failed payment
EASE_PER_CONTACT = -0.4
EASE_PAYMENT_FAILED = -0.5
NOT_INFORMED = {"damaged": -1.5, "delayed_untold": -1.2}  # "informs": nobody told them
INFORMED = 0.4  # informed = 0.4 experience + 0.92 noise, less when nobody told them
BROKEN_RELIABILITY = -0.8  # reliability = 0.9 delivery + 0.44 noise, less after a damage:
# every promise of the order broke (48 h, told within 2 h, one whole)
# Repurchase (accessories 10-60 days later) follows the experience of the first order: an
# order comes when 0.75 experience + 0.66 noise is above the cut that gives 15 % at random.
REPURCHASE = 0.15
REPURCHASE_LOADING = 0.75

# The rule `damaged-delivery` (RULE_SCENARIO only; docs/demo.md "With the rule and without").
# Its own draws come from a generator spawned for it, so every other event and answer of the
# two histories is drawn alike: the same customers, orders, carriers and damages.
RULE = "damaged-delivery"
NOTICE_AFTER = (2 * MINUTE, 45 * MINUTE)  # the engine decides, the worker mails: in the hour
CASE_OPENED_AFTER = (30, 3 * MINUTE)  # the rule's case for logistics
RESHIP_AFTER = (1 * HOUR, 3 * HOUR)  # the new machine leaves at once (the warehouse by day)
CASE_RESOLVED_AFTER = (5 * MINUTE, 40 * MINUTE)  # logistics closes it when it has left
CANCEL_TAKEN = 0.10  # of the damaged customers take the free cancellation offered
CANCEL_AFTER = (10 * MINUTE, 6 * HOUR)  # a reply to the notice
STILL_CONTACT = 0.25  # still call or chat once (about the installation); none a second time
# What went wrong is then the damage and a day or two's wait, not the silence, the return
# policy and the refusal: the delivery's quality shifts by TOLD_DAMAGE instead of
# DAMAGED_DELIVERY, reliability by TOLD_RELIABILITY instead of BROKEN_RELIABILITY, the
# installation by TOLD_INSTALLATION instead of DAMAGED_INSTALLATION, and "informs" is not
# lowered at all (NOT_INFORMED does not apply: they were told).
TOLD_DAMAGE = -0.3
TOLD_RELIABILITY = -0.4
TOLD_INSTALLATION = -0.3

# The rules `detractor-callback` and `detractor-reask` (RULE_SCENARIO only; docs/demo.md
# "The detractor callback"): every NPS answer of 0-6 opens a case for customer service, who
# call the customer back and resolve it, except for the rule's holdout (half the customers,
# by `domain.rules.held_out`: the control group); and every detractor, called or held out,
# is invited to the survey after a delivery REASK_DELAY after their answer. Its draws come
# from a generator of its own, spawned after every other draw of the block.
CALLBACK = "detractor-callback"
REASK = "detractor-reask"
CALLBACK_OPENED_AFTER = (30, 3 * MINUTE)  # the engine opens it as the answer comes in
CALLBACK_RESOLVED_AFTER = (1 * HOUR, 2 * DAY)  # called back and put right (by day)
REASK_SURVEY = "after-delivery"
FOLLOW_UP_RATE = 0.6  # a customer who was called back answers the re-ask more often ...
HELD_OUT_RATE = 0.5  # ... than one nobody called
# The planted recovery: the re-ask's answers are cut from an experience drawn anew, around
# RECOVERED for the called back (a smooth journey's is around 0) and around UNCALLED for the
# held out: about a detractor's own experience (the mean latent experience of those who
# answered 0-6), read again with the answer's own noise. Some of them answer 7 or more too
# (regression to the mean, which is what the control group is for); PLANTED_RECOVERY gives
# the shares the NPS item cuts from these (84 % and 43 %: the call's effect, 41 points).
RECOVERED = -0.2
UNCALLED = -1.6
@dataclass(frozen=True)
class Opened:
    """Cases the rule opened in one block: for the `delivery_damaged` events `rows` of
    timeline step `step`, opened and resolved at these times (seconds; resolved -1: not
    yet), of these customers."""

    step: int
    rows: np.ndarray
    who: np.ndarray
    opened: np.ndarray
    resolved: np.ndarray
    rule: str = RULE

# How a journey where nothing went wrong is answered (probability of each value).
NPS = (0.01, 0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.09, 0.21, 0.26, 0.32)  # 0..10
CES = (0.02, 0.03, 0.05, 0.10, 0.20, 0.30, 0.30)  # 1..7, 7 = very easy
CSAT = (0.02, 0.03, 0.10, 0.35, 0.50)  # 1..5
RATING = (0.02, 0.04, 0.14, 0.40, 0.40)  # a touchpoint rated 1..5
VALUE = (0.03, 0.07, 0.25, 0.40, 0.25)  # an element of value, "how well did we do", 1..5
VALUE_INFORMS = (0.20, 0.35, 0.30, 0.10, 0.05)  # claimed, but the shop tells nothing
# With the rule on (RULE_SCENARIO) a damaged order is "damaged_told": told, resent at once.
RESPONSE_RATE = {"smooth": 0.35, "delayed_untold": 0.45, "damaged": 0.60, "damaged_told": 0.60}
OUTCOMES = tuple(RESPONSE_RATE)
# What half of the detractors write to "what could we have done better?", by outcome; four
# in five after a damaged delivery (DAMAGED_WRITE): they have a story to tell.
DAMAGED_WRITE = 0.8
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "smooth": {
        "fi": ("Asentaja oli myöhässä, eikä kukaan ilmoittanut siitä.",
               "Hinta oli kova, ja tilausvahvistus tuli vasta toisella yrittämällä.",
               "Toimitusaikaa ei voinut valita itse."),
        "en": ("The installer was late and nobody told me.",
               "The price was steep and the confirmation came only on the second try.",
               "I could not choose the delivery time myself."),
    },
    "delayed_untold": {
        "fi": ("Toimitus myöhästyi, enkä saanut siitä mitään tietoa.",
               "Odotin kotona turhaan koko päivän. Kertokaa viivästyksestä ajoissa.",
               "Jouduin itse selvittämään, missä paketti on."),
        "en": ("The delivery was late and I was told nothing about it.",
               "I waited at home all day for nothing. Tell us about delays in time.",
               "I had to find out myself where the parcel was."),
    },
    "damaged": {
        "fi": ("Pesukone meni kuljetusliikkeellä rikki, eikä kukaan kertonut minulle. "
               "Huomasin sen itse verkosta, kun asentaja soitti.",
               "Uusi kone lähti vasta, kun kuljetusliike oli palauttanut rikki menneen "
               "koneen varastoon. En ollut edes saanut tilaamaani tuotetta!",
               "Kone tuli rikki, joten ehdotin kaupan peruutusta, jotta voisin hakea uuden "
               "toisesta kaupasta. Sekään ei käynyt.",
               "Kuljetusliike toi koneen rikki. Ostin sen kotiin toimitettuna ja asennettuna, "
               "enkä halunnut olla linkki kaupan ja kuljetusliikkeen välillä."),
        "en": ("The washing machine got broken by the carrier and nobody told me. I found "
               "out online myself when the installer called.",
               "The new machine left only after the carrier had brought the broken one back "
               "to the warehouse. I had not even received what I ordered!",
               "The machine came broken, so I proposed a cancellation to fetch a new one "
               "from another shop. That was refused too.",
               "The carrier brought the machine broken. I bought it delivered and installed, "
               "and did not want to be the link between the shop and the carrier."),
    },
}
# The damaged deliveries' detractors say it in more words than one (for the words that tell
# detractors from promoters): broken (rikki, in every one of the seven Finnish phrases),
# carrier (kuljetusliike, four), cancellation (peruutus, four), nobody told.
COMMENTS["damaged"]["fi"] += (
    "Kone tuli rikki, ja kuljetusliike vei sen takaisin. Peruutus evättiin.",
    "Rikki mennyt kone, viikon odotus, eikä peruutus käynyt. Asiakaspalvelu ei tiennyt "
    "mitään.",
    "Pyysin peruutusta, koska kone oli rikki. Sitä ei hyväksytty.")
COMMENTS["damaged"]["en"] += (
    "The machine arrived broken and the carrier took it back. The cancellation was refused.",
    "A broken machine, a week of waiting, and no cancellation. Customer service knew "
    "nothing.",
    "I asked to cancel because the machine was broken. They said no.")
# With the rule: what is left to say is the damage itself, and the wait of a day or two.
COMMENTS["damaged_told"] = {
    "fi": ("Kone meni kuljetuksessa rikki. Tieto tuli onneksi heti, mutta asennus siirtyi.",
           "Harmillista, että kuljetusliike rikkoi koneen, vaikka uusi tulikin nopeasti.",
           "Jouduin odottamaan uutta konetta pari päivää."),
    "en": ("The machine was broken in transport. I was told at once, but the installation "
           "moved.",
           "A pity the carrier broke the machine, even if the new one came quickly.",
           "I had to wait a couple of days for the new machine."),
}
# What a fifth of the promoters write to "what did we do well?" (any outcome).
PRAISE: dict[str, dict[str, tuple[str, ...]]] = {
    feedback.ANY: {
        "fi": ("Nopea toimitus, kiitos!",
               "Asentaja oli ammattitaitoinen ja siivosi jälkensä.",
               "Toimitus tuli sovittuna päivänä ja asennus sujui nopeasti.",
               "Hyvä hinta ja ystävällinen asiakaspalvelu.",
               "Kaikki sujui helposti tilauksesta asennukseen."),
        "en": ("Fast delivery, thank you!",
               "The installer was skilled and cleaned up after himself.",
               "The delivery came on the agreed day and the installation was quick.",
               "A good price and friendly customer service.",
               "Everything was easy from the order to the installation."),
    },
}


def _around(mean: float, spread: float) -> tuple[float, ...]:
    """Probabilities of 1..7 of a normal answer around `mean`, rounded and kept on the
    scale: an item with these bands answers round(mean + spread * y), y ~ N(0, 1)."""
    unit = NormalDist(mean, spread)
    edges = [0.0, *(unit.cdf(k + 0.5) for k in range(1, 7)), 1.0]
    return tuple(b - a for a, b in itertools.pairwise(edges))


# The quality survey two weeks after the installation (RATER, 1-7). What customers expect
# was formed before: each expectation reads the respondent's own standards, drawn per
# response, whatever happened. What they perceive reads the journey: reliability the
# delivery, responsiveness the delivery and customer service, tangibles the installation,
# assurance the whole experience, empathy customer service.
EXPECTED = {"tangibles": 5.0, "reliability": 6.4, "responsiveness": 6.0, "assurance": 5.8,
            "empathy": 5.2}
EXPECTED_SPREAD = 0.9
STANDARDS_LOADING = 0.6  # expectations correlate about 0.36 with each other
PERCEIVED = {"tangibles": 5.3, "reliability": 6.2, "responsiveness": 5.9, "assurance": 5.8,
             "empathy": 5.0}  # the middle of a typical journey's answer
PERCEIVED_SPREAD = 1.5
PERCEIVED_LATENT = {"tangibles": "installation", "reliability": "reliability",
                    "responsiveness": "responsiveness", "assurance": feedback.EXPERIENCE,
                    "empathy": "customer-service-quality"}
PERCEIVED_LOADING = 0.85
# The quality survey's Kano pair (docs/demo.md): each feature's share of respondents per
# category (A attractive, O one-dimensional, M must-be, I indifferent, R reverse,
# Q questionable). Being told where the delivery is goes without saying (the seed's customer
# "expected the seller to keep her posted about any delay"); installation on the delivery
# day pleases the more the better; taking the old machine away delights, its lack is borne.
KANO = {
    "sms-tracking": {"M": 0.50, "I": 0.20, "O": 0.17, "A": 0.08, "R": 0.02, "Q": 0.03},
    "same-day-installation": {"O": 0.45, "M": 0.20, "A": 0.15, "I": 0.15, "R": 0.02,
                              "Q": 0.03},
    "old-appliance-removal": {"A": 0.45, "I": 0.25, "O": 0.15, "M": 0.10, "R": 0.02,
                              "Q": 0.03},
}
QUALITY = feedback.Answering(rate=RESPONSE_RATE, items={
    **{f"quality.{d}.expected": feedback.Item(_around(e, EXPECTED_SPREAD), "standards",
                                              STANDARDS_LOADING)
       for d, e in EXPECTED.items()},
    **{f"quality.{d}.perceived": feedback.Item(_around(m, PERCEIVED_SPREAD),
                                               PERCEIVED_LATENT[d], PERCEIVED_LOADING)
       for d, m in PERCEIVED.items()},
}, kano={f"features.{f}": feedback.KanoFeature(shares) for f, shares in KANO.items()})
# The same questions after a damaged delivery (survey quality-after-damage), asked of every
# damaged order: an apology that asks what went wrong is answered by three in four.
RECOVERY_RATE = 0.75
AFTER_DAMAGE = feedback.Answering(rate={**RESPONSE_RATE, "damaged": RECOVERY_RATE,
                                        "damaged_told": RECOVERY_RATE},
                                  items=QUALITY.items)
# The surveys after the delivery and the installation: the scores, a rating per touchpoint
# (named by the touchpoint's id; customer service only by those who contacted it), and the
# elements of value the shop claims, plus quality, which it does not.
ELEMENTS = {"saves_time": ("delivery", VALUE), "avoids_hassles": (feedback.EXPERIENCE, VALUE),
            "reduces_effort": ("ease", VALUE), "reduces_anxiety": (feedback.EXPERIENCE, VALUE),
            "informs": ("informed", VALUE_INFORMS), "quality": ("installation", VALUE)}
ANSWERING = feedback.Answering(
    rate=RESPONSE_RATE,
    items={"recommend": feedback.Item(NPS, feedback.EXPERIENCE, 0.85, low=0),
           "effort": feedback.Item(CES, "ease", 0.85),
           "satisfied": feedback.Item(CSAT, feedback.EXPERIENCE, 0.8),
           **{t: feedback.Item(RATING, t, 0.85) for t in WEIGHT},
           **{f"value.{e}": feedback.Item(typical, latent, 0.75)
              for e, (latent, typical) in ELEMENTS.items()}},
    comments={"better": feedback.Comments(COMMENTS, 0.5, {"damaged": DAMAGED_WRITE}),
              "good": feedback.Comments(PRAISE, 0.2)})


def _fulfil(tl: Timeline, rng: np.random.Generator, who: np.ndarray, ordered: np.ndarray,
            express: np.ndarray, installation: np.ndarray, carrier: Labels, order: pa.Array,
            mood: np.ndarray, failed: np.ndarray, feel: np.random.Generator, *,
            rule: bool = False,
            opened: list[Opened] | None = None) -> tuple[list[feedback.Triggered], np.ndarray]:
    """From the paid order to the installation, for the orders given (one row per order);
    returns the events that trigger a survey, with what happened to each order and the
    latent scores it left, and each order's experience (-inf: cancelled). With `rule` the
    shop acts on a damage as the rule `damaged-delivery` says, and the cases it opens are
    added to `opened`."""
    p = tl.period
    n = len(who)
    carrier_props = properties(order=order, carrier=carrier)

    def of(rows: np.ndarray) -> pa.Array:
        return properties(order=order.take(pa.array(rows)))

    shipped = p.daytime(rng, ordered + np.where(express, uniform(rng, 2 * HOUR, 6 * HOUR, n),
                                                uniform(rng, 12 * HOUR, 48 * HOUR, n)), 7, 21)
    tl.add("shipped", who, shipped, "delivery", props=carrier_props)
    due = p.daytime(rng, shipped + np.where(express, uniform(rng, 14 * HOUR, 24 * HOUR, n),
                                            uniform(rng, 24 * HOUR, 72 * HOUR, n)), 8, 20)

    rate = np.select([carrier.of(c) for c in CARRIERS], [DAMAGE_RATE[c] for c in CARRIERS])
    damaged = rng.random(n) < rate
    delayed = ~damaged & (rng.random(n) < DELAY_RATE)
    told = delayed & (rng.random(n) < DELAY_TOLD)

    # A delay: the carrier reports it, the shop tells the customer (mostly), it comes later.
    d = np.flatnonzero(delayed)
    delay_at = shipped[d] + uniform(rng, 4 * HOUR, 12 * HOUR, len(d))
    tl.add("delivery_delayed", who[d], delay_at, "delivery", props=carrier_props.take(d))
    t = np.flatnonzero(told)
    tl.add("delay_notified", who[t], delay_at[told[d]]
           + uniform(rng, 10 * MINUTE, 100 * MINUTE, len(t)), "email")
    due[d] = p.daytime(rng, due[d] + uniform(rng, 24 * HOUR, 48 * HOUR, len(d)), 8, 20)

    # The damage: the carrier sends the machine back; nobody tells the customer. The
    # installer's call (or the parcel not coming) makes them look online, then call or chat;
    # cancelling is refused, and the new machine leaves only when the broken one is back in
    # the warehouse: the shop's return policy applied to a delivery that never arrived.
    # With the rule (`rule`), the same draws are made, so that every other event comes out
    # alike, and the rule's own come from `policy` (_with_rule).
    k = np.flatnonzero(damaged)
    m = len(k)
    damage_at = due[k] - uniform(rng, 2 * HOUR, 6 * HOUR, m)
    hit = tl.add("delivery_damaged", who[k], damage_at, "delivery",
                 props=carrier_props.take(k))
    call = p.daytime(rng, damage_at + uniform(rng, 30 * MINUTE, 3 * HOUR, m))
    checked = call + uniform(rng, 5 * MINUTE, 60 * MINUTE, m)
    if not rule:
        tl.add("order_status_checked", who[k], checked, "web")
    contact = p.daytime(rng, checked + uniform(rng, 10 * MINUTE, 90 * MINUTE, m))
    contact_channel = pick(rng, ("phone", "chat"), (0.6, 0.4), m)
    if not rule:
        tl.add("service_contact", who[k], contact, contact_channel,
               props=properties(reason=Labels(("damaged_delivery",), np.zeros(m, np.int64))))
    refused = rng.random(m) < 0.7
    r = np.flatnonzero(refused)
    refused_at = contact[r] + uniform(rng, 5 * MINUTE, 30 * MINUTE, len(r))
    if not rule:
        tl.add("cancellation_refused", who[k][r], refused_at, contact_channel.take(r))
    again = np.flatnonzero(rng.random(m) < 0.5)
    again_at = p.daytime(rng, contact[again] + uniform(rng, 20 * HOUR, 30 * HOUR, len(again)))
    if not rule:
        tl.add("service_contact", who[k][again], again_at, contact_channel.take(again),
               props=properties(reason=Labels(("damaged_delivery",),
                                              np.zeros(len(again), np.int64))))
    returned = p.daytime(rng, damage_at + uniform(rng, 3 * DAY, 7 * DAY, m), 7, 17)
    tl.add("return_received", who[k], returned, "delivery", props=carrier_props.take(k))
    reshipped = p.daytime(rng, returned + uniform(rng, 4 * HOUR, 20 * HOUR, m), 7, 21)
    contacts = np.zeros(n)
    keep = np.ones(n, bool)  # orders that go on to be delivered (not cancelled)
    if rule:
        told_damage = _with_rule(tl, rng.spawn(1)[0], who, k, damage_at, hit, order, contacts,
                                 keep, opened)
        reshipped = told_damage
        kept_k = keep[k]
        resent = tl.add("reshipped", who[k][kept_k], reshipped[kept_k], "delivery",
                        props=carrier_props.take(k[kept_k]))
    else:
        kept_k = np.ones(m, bool)
        resent = tl.add("reshipped", who[k], reshipped, "delivery",
                        props=carrier_props.take(k))
        contacts[k] += 1
        contacts[k[again]] += 1
    due[k] = p.daytime(rng, reshipped + uniform(rng, 18 * HOUR, 48 * HOUR, m), 8, 20)

    # The delivery says whether an installation follows: the survey after a delivery
    # waits for the installation when there is one.
    going = np.flatnonzero(keep)
    place = np.full(n, -1, np.int64)  # an order's row among the delivered
    place[going] = np.arange(len(going))
    if keep.all():
        delivered = tl.add("delivered", who, due, "delivery", props=properties(
            order=order, carrier=carrier, installation=installation))
    else:
        delivered = tl.add("delivered", who[going], due[going], "delivery", props=properties(
            order=order.take(pa.array(going)), carrier=carrier.take(going),
            installation=installation[going]))

    # Some customers follow the parcel online before it comes.
    look = np.flatnonzero(~damaged & (rng.random(n) < 0.3))
    tl.add("order_status_checked", who[look], shipped[look] + (
        (due[look] - shipped[look]) * rng.random(len(look))).astype(np.int64), "web")

    # The installer calls to agree a time; the installation follows the delivery.
    every = np.flatnonzero(installation)
    booked = p.daytime(rng, shipped[every] + uniform(rng, 1 * HOUR, 6 * HOUR, len(every)))
    # after a damage: the installer's call that told the customer (with the rule: the call
    # agreeing a new time once the new machine has left)
    booked[damaged[every]] = (reshipped if rule else call)[
        np.searchsorted(k, every[damaged[every]])]
    installed = p.daytime(rng, due[every] + np.where(
        express[every], uniform(rng, 1 * HOUR, 6 * HOUR, len(every)),
        uniform(rng, 24 * HOUR, 96 * HOUR, len(every))), 8, 19)
    on = keep[every]
    i = every[on]
    tl.add("installation_booked", who[i], booked[on], "phone", props=of(i))
    completed = tl.add("installation_completed", who[i], installed[on], "installation",
                       props=of(i))
    installed = installed[on]

    refusal = np.zeros(n, bool)
    if not rule:
        refusal[k[r]] = True
    outcome = np.where(damaged, 3 if rule else 2, np.where(delayed & ~told, 1, 0))
    expected = np.where(express, EXPECTED_DAYS["express"], EXPECTED_DAYS["standard"])
    late = np.clip((due - ordered) / DAY - expected, 0, LATE_DAYS_COUNTED)
    late_express = express & (due - ordered > 36 * HOUR)
    latent = _latent(feel, mood, outcome, told, damaged & installation, failed, contacts,
                     refusal, late, late_express)
    plain = np.flatnonzero(~installation & keep)
    # a cancelled order is not asked about and brings no accessories after it
    experience = np.where(keep, latent[feedback.EXPERIENCE], -np.inf)

    def of_rows(rows: np.ndarray) -> dict[str, np.ndarray]:
        return {name: score[rows] for name, score in latent.items()}

    k_on = k[kept_k]
    return [
        feedback.Triggered("after-delivery", delivered, place[plain], who[plain], due[plain],
                           outcome[plain], OUTCOMES, ANSWERING,
                           {"order": order.take(pa.array(plain))}, of_rows(plain)),
        feedback.Triggered("after-installation", completed, np.arange(len(i)), who[i],
                           installed, outcome[i], OUTCOMES, ANSWERING,
                           {"order": order.take(pa.array(i))}, of_rows(i)),
        feedback.Triggered("quality", completed, np.arange(len(i)), who[i], installed,
                           outcome[i], OUTCOMES, QUALITY, {"order": order.take(pa.array(i))},
                           of_rows(i)),
        # After a damage the shop asks every customer, three weeks after the new machine
        # left (past the cap of the survey after its delivery or installation).
        feedback.Triggered("quality-after-damage", resent, np.arange(len(k_on)), who[k_on],
                           reshipped[kept_k], outcome[k_on], OUTCOMES, AFTER_DAMAGE,
                           {"order": order.take(pa.array(k_on))}, of_rows(k_on)),
    ], experience


def _with_rule(tl: Timeline, policy: np.random.Generator, who: np.ndarray, k: np.ndarray,
               damage_at: np.ndarray, hit: int, order: pa.Array, contacts: np.ndarray,
               keep: np.ndarray, opened: list[Opened] | None) -> np.ndarray:
    """The rule `damaged-delivery` acting on the damages `k` (rows of the block's orders):
    the notice with the cancellation offered, the case for logistics, the cancellations
    taken, the contacts still made; marks the cancelled orders off `keep`, counts the
    contacts; returns when each new machine leaves (cancelled: when the case was resolved)."""
    p = tl.period
    m = len(k)
    ids = order.take(pa.array(k))
    notice = damage_at + uniform(policy, *NOTICE_AFTER, m)
    tl.add("delay_notified", who[k], notice, "email", props=properties(
        order=ids, reason=Labels(("damaged_delivery",), np.zeros(m, np.int64))))
    tl.add("cancellation_offered", who[k], notice, "email", props=properties(order=ids))
    cancel = policy.random(m) < CANCEL_TAKEN
    c = np.flatnonzero(cancel)
    cancelled_at = notice[c] + uniform(policy, *CANCEL_AFTER, len(c))
    tl.add("order_cancelled", who[k][c], cancelled_at, "email",
           props=properties(order=ids.take(pa.array(c))))
    keep[k[c]] = False
    asks = np.flatnonzero(~cancel & (policy.random(m) < STILL_CONTACT))
    tl.add("service_contact", who[k][asks], p.daytime(
        policy, notice[asks] + uniform(policy, 30 * MINUTE, 24 * HOUR, len(asks))),
        pick(policy, ("phone", "chat"), (0.6, 0.4), len(asks)),
        props=properties(reason=Labels(("damaged_delivery",), np.zeros(len(asks), np.int64))))
    contacts[k[asks]] += 1
    reshipped = p.daytime(policy, damage_at + uniform(policy, *RESHIP_AFTER, m), 7, 21)
    case_opened = damage_at + uniform(policy, *CASE_OPENED_AFTER, m)
    done = np.where(cancel, notice, reshipped)
    done[c] = cancelled_at
    resolved = done + uniform(policy, *CASE_RESOLVED_AFTER, m)
    if opened is not None:
        opened.append(Opened(hit, np.arange(m), who[k], case_opened, resolved))
    return reshipped


def _latent(rng: np.random.Generator, mood: np.ndarray, outcome: np.ndarray,
            told: np.ndarray, reinstalled: np.ndarray, failed: np.ndarray,
            contacts: np.ndarray, refused: np.ndarray,
            late: np.ndarray, late_express: np.ndarray) -> dict[str, np.ndarray]:
    """The latent scores of each order's journey (standard normal where nothing went
    wrong), which its answers are cut from (docs/demo.md, "Answers that move together")."""
    n = len(outcome)
    noise = rng.standard_normal((8, n))
    damaged, untold, damage_told = outcome == 2, outcome == 1, outcome == 3
    quality = {
        "checkout": noise[0] + PAYMENT_FAILED * failed,
        "delivery": noise[1] + PER_DAY_LATE * late + EXPRESS_LATE * late_express
        + DAMAGED_DELIVERY * damaged + TOLD_DAMAGE * damage_told
        + UNTOLD_DELAY * untold + TOLD_DELAY * told,
        "installation": noise[2] + np.where(damage_told, TOLD_INSTALLATION,
                                            DAMAGED_INSTALLATION) * reinstalled,
        "customer-service": noise[3] + PER_CONTACT * contacts + CANCELLATION_REFUSED * refused,
    }
    experience = MOOD * mood + REST * noise[4] + sum(
        (WEIGHT[t] * q for t, q in quality.items()), np.zeros(n))
    ease = (EASE * experience + math.sqrt(1 - EASE**2) * noise[5]
            + EASE_PER_CONTACT * contacts + EASE_PAYMENT_FAILED * failed)
    informed = (INFORMED * experience + math.sqrt(1 - INFORMED**2) * noise[6]
                + np.select([damaged, untold], [NOT_INFORMED["damaged"],
                                                NOT_INFORMED["delayed_untold"]], 0.0))
    return {
        feedback.EXPERIENCE: experience, **quality, "ease": ease, "informed": informed,
        # Only those who contacted customer service rate it.
        "customer-service": np.where(contacts > 0, quality["customer-service"], np.nan),
        "customer-service-quality": quality["customer-service"],
        "reliability": 0.9 * quality["delivery"] + math.sqrt(1 - 0.81) * noise[7]
        + BROKEN_RELIABILITY * damaged + TOLD_RELIABILITY * damage_told,
        "responsiveness": 0.6 * quality["delivery"] + 0.8 * quality["customer-service"],
    }


def _order(tl: Timeline, rng: np.random.Generator, who: np.ndarray, at: np.ndarray,
           product: Labels, express: np.ndarray, installation: np.ndarray,
           channel: Labels, order: pa.Array,
           mood: np.ndarray, feel: np.random.Generator, *, rule: bool = False,
           opened: list[Opened] | None = None) -> tuple[list[feedback.Triggered], np.ndarray]:
    """Order, payment and confirmation, then the delivery of each order."""
    n = len(who)
    carrier = pick(rng, CARRIERS, CARRIER_SHARE, n)
    prices = ((PRICE_EUR[product.index] * rng.uniform(0.9, 1.25, n)).astype(np.int64)
              if product.names is PRODUCTS else rng.integers(29, 79, n))
    tl.add("order_placed", who, at, channel, props=properties(
        order=order, product=product, price_eur=prices,
        delivery=Labels(("standard", "express"), express.astype(np.int64)),
        installation=installation, carrier=carrier))
    e = np.flatnonzero(express)
    tl.add("express_delivery_selected", who[e], at[e], channel.take(e),
           props=properties(order=order.take(pa.array(e))))
    failed = rng.random(n) < 0.03
    paid = at + uniform(rng, 1 * MINUTE, 10 * MINUTE, n)
    fl = np.flatnonzero(failed)
    tl.add("payment_failed", who[fl], paid[fl], "web")
    paid[fl] += uniform(rng, 2 * MINUTE, 30 * MINUTE, len(fl))
    tl.add("payment_completed", who, paid, "web")
    tl.add("order_confirmation_sent", who, paid + uniform(rng, 30, 3 * MINUTE, n), "email")
    return _fulfil(tl, rng, who, paid, express, installation, carrier, order, mood[who],
                   failed, feel, rule=rule, opened=opened)


def _browse(tl: Timeline, rng: np.random.Generator, n: int) -> np.ndarray:
    """Ads, searches and product pages over a few sessions; returns when each decides."""
    p = tl.period
    first = p.starts(rng, n, EVENING, within=(0.0, 0.97))
    everyone = np.arange(n)
    span_days = np.minimum(rng.exponential(2.5, n), 14)
    ad = np.flatnonzero(rng.random(n) < 0.45)
    tl.add("ad_clicked", ad, first[ad], pick(rng, ("ads", "social"), (0.7, 0.3), len(ad)))

    # The first session starts at the first visit, later ones on later evenings.
    sessions = 1 + rng.poisson(1.5, n)
    s_who = np.repeat(everyone, sessions)
    later = np.r_[False, s_who[1:] == s_who[:-1]]
    s_at = first[s_who].copy()
    s_at[later] = p.on_day(rng, first[s_who[later]] + DAY * (
        1 + (span_days[s_who[later]] * rng.random(int(later.sum()))).astype(np.int64)))
    last = first.copy()
    np.maximum.at(last, s_who, s_at)
    s_channel = pick(rng, ("web", "mobile"), (0.7, 0.3), len(s_who))
    searched = np.flatnonzero(rng.random(len(s_who)) < 0.6)
    tl.add("site_search", s_who[searched], s_at[searched], s_channel.take(searched))
    browsed = np.flatnonzero(rng.random(len(s_who)) < 0.4)
    tl.add("category_browsed", s_who[browsed], s_at[browsed] + 30, s_channel.take(browsed))
    views = 1 + rng.poisson(1.8, len(s_who))
    v_rows = np.repeat(np.arange(len(s_who)), views)
    tl.add("product_viewed", s_who[v_rows], s_at[v_rows] + uniform(rng, MINUTE, 25 * MINUTE,
                                                                    len(v_rows)),
           s_channel.take(v_rows), props=properties(
               product=pick(rng, PRODUCTS, PRODUCT_SHARE, len(v_rows))))
    asked = np.flatnonzero(rng.random(n) < 0.08)
    tl.add("chat_question", asked, first[asked] + uniform(rng, 5 * MINUTE, 20 * MINUTE,
                                                           len(asked)), "chat")
    # The cart comes at the end of the last session.
    return last + uniform(rng, 30 * MINUTE, 45 * MINUTE, n)  # type: ignore[no-any-return]


def make_block(rng: np.random.Generator, period: Period, first: int, size: int, *,
               rule: bool = False) -> Block:
    """A block of the shop's customers; with `rule` as the workspace kodinkone-rule: the
    same customers and draws, with the rule `damaged-delivery` on."""
    tl = Timeline(period)
    ids = numbered(f"{RULE_SLUG if rule else SLUG}-", first, size)
    opened: list[Opened] = []
    decided = _browse(tl, rng, size)

    carted = np.flatnonzero(rng.random(size) < 0.55)
    cart_channel = pick(rng, ("web", "mobile"), (0.7, 0.3), len(carted))
    tl.add("cart_added", carted, decided[carted], cart_channel)
    buys = rng.random(len(carted)) < 0.65
    # Abandoned carts get a reminder a day later; a fifth of the reminded come back.
    left = np.flatnonzero(~buys)
    reminded = left[rng.random(len(left)) < 0.7]
    remind_at = decided[carted[reminded]] + uniform(rng, 23 * HOUR, 25 * HOUR, len(reminded))
    tl.add("cart_reminder_sent", carted[reminded], remind_at, "email")
    back = rng.random(len(reminded)) < 0.2
    order_rows = np.concatenate([np.flatnonzero(buys), reminded[back]])
    order_at = np.concatenate([
        decided[carted[buys]] + uniform(rng, 2 * MINUTE, 20 * MINUTE, int(buys.sum())),
        period.daytime(rng, remind_at[back] + uniform(rng, HOUR, 48 * HOUR, int(back.sum())),
                       7, 23)])
    buyers = carted[order_rows]
    n = len(buyers)
    channel = Labels(("web", "mobile", "phone"), np.where(
        rng.random(n) < 0.04, 2, cart_channel.index[order_rows]))
    express = rng.random(n) < 0.4
    installation = express | (rng.random(n) < 0.55)
    # An order is named by its customer: -o1 the appliance, -o2 the accessories later.
    # The latent scores draw from a generator of their own, so the events before them stay
    # those of the same seed whatever the answers do.
    feel = rng.spawn(1)[0]
    mood = feel.standard_normal(size)
    product = pick(rng, PRODUCTS, PRODUCT_SHARE, n)
    triggered, experience = _order(tl, rng, buyers, order_at, product, express, installation,
                                   channel, _orders(ids, buyers, "o1"), mood, feel,
                                   rule=rule, opened=opened)

    # Some come back for accessories weeks later (standard delivery, no installation): the
    # better the first order went, the likelier.
    cut = NormalDist().inv_cdf(1 - REPURCHASE)
    rest = math.sqrt(1 - REPURCHASE_LOADING**2)
    chance = _normal_cdf((REPURCHASE_LOADING * experience - cut) / rest)
    again = np.flatnonzero(rng.random(n) < chance)
    m = len(again)
    again_at = period.daytime(rng, order_at[again] + uniform(rng, 10 * DAY, 60 * DAY, m), 7, 23)
    tl.add("product_viewed", buyers[again], again_at - uniform(rng, 2 * MINUTE, 20 * MINUTE, m),
           "web", props=properties(product=pick(rng, ACCESSORIES, (1, 1, 1), m)))
    triggered += _order(tl, rng, buyers[again], again_at, pick(rng, ACCESSORIES, (1, 1, 1), m),
                        np.zeros(m, bool), np.zeros(m, bool),
                        Labels(("web",), np.zeros(m, np.int64)),
                        _orders(ids, buyers[again], "o2"), mood, feel, rule=rule,
                        opened=opened)[0]

    # A few ask customer service something on the way, by phone or chat.
    asked = np.flatnonzero(rng.random(n) < 0.05)
    tl.add("service_contact", buyers[asked], period.daytime(
        rng, order_at[asked] + uniform(rng, HOUR, 3 * DAY, len(asked))),
        pick(rng, ("phone", "chat"), (0.5, 0.5), len(asked)),
        props=properties(reason=Labels(("question",), np.zeros(len(asked), np.int64))))

    # Surveys after the delivery or the installation; answers follow what happened.
    surveyed = feedback.invite(rng, period, feedback.workspace_of(WORKSPACE_FILE), triggered)
    steps = feedback.feedback_events(tl, surveyed, "email")
    if rule:
        followed = _callback(tl, rng.spawn(1)[0], ids, surveyed, steps, opened)
        feedback.feedback_events(tl, followed, "email")
        surveyed += followed
    return Block(tl, ids, _customers(rng, ids, size), feedback=surveyed,
                 cases=[_cases(o) for o in opened])


def _callback(tl: Timeline, policy: np.random.Generator, ids: pa.Array,
              surveyed: list[feedback.Asked], steps: list[int | None],
              opened: list[Opened]) -> list[feedback.Asked]:
    """The rules `detractor-callback` and `detractor-reask` acting on the NPS answers of
    0-6 in `surveyed` (their `feedback_given` events at `steps`): a case for customer
    service each, resolved within days (added to `opened`), unless the customer is in the
    callback's holdout; and the re-ask of every one of them; returns its answers."""
    p = tl.period
    ws = with_rule()
    survey = ws.survey(REASK_SURVEY)
    assert survey is not None and survey.trigger is not None
    callback = next(r for r in ws.rules if r.id == CALLBACK)
    reask = next(r for r in ws.rules if r.id == REASK)
    ask = next(a for a in reask.actions if isinstance(a, SendSurvey))
    # invite() adds the survey trigger's own delay; the rule's action is due at its own
    delay = int(parse_duration(ask.delay) - survey.trigger.delay_seconds)
    triggered: list[feedback.Triggered] = []
    for a, step in zip(surveyed, steps, strict=True):
        question = a.survey.first_of("nps")
        if question is None or step is None:
            continue
        r = a.respondents
        d = np.flatnonzero(a.answers[question.id] <= 6)  # rows of the step: respondents
        if not len(d):
            continue
        who = a.who[r[d]]
        held = np.array([callback.holds_out(c) for c in ids.take(pa.array(who)).to_pylist()],
                        bool)
        called = np.flatnonzero(~held)
        m = len(called)
        case_at = a.answered[r[d[called]]] + uniform(policy, *CALLBACK_OPENED_AFTER, m)
        resolved = p.daytime(policy, case_at + uniform(policy, *CALLBACK_RESOLVED_AFTER, m),
                             8, 18)
        opened.append(Opened(step, d[called], who[called], case_at, resolved, CALLBACK))
        for rows, centre, rate, heard in ((called, RECOVERED, FOLLOW_UP_RATE, True),
                                          (np.flatnonzero(held), UNCALLED, HELD_OUT_RATE,
                                           False)):
            k = len(rows)
            experience = centre + policy.standard_normal(k)
            latent = {feedback.EXPERIENCE: experience,
                      "ease": EASE * experience
                      + math.sqrt(1 - EASE**2) * policy.standard_normal(k),
                      # only the called back have had customer service to rate
                      "customer-service": (0.5 + policy.standard_normal(k) if heard
                                           else np.full(k, np.nan))}
            answering = feedback.Answering(rate=dict.fromkeys(OUTCOMES, rate),
                                           items=ANSWERING.items,
                                           comments={"good": feedback.Comments(PRAISE, 0.2)})
            at = a.answered[r[d[rows]]] + delay
            triggered.append(feedback.Triggered(
                REASK_SURVEY, step, d[rows], who[rows], at, np.zeros(k, np.int64), OUTCOMES,
                answering, {key: v.take(pa.array(r[d[rows]])) for key, v in a.properties.items()},
                latent))
    return feedback.invite(policy, p, ws, triggered) if triggered else []


def planted_recovery(centre: float) -> float:
    """The share of re-ask answers of 7-10 cut from experiences around `centre` (N(centre,
    1)): the NPS item reads y = loading z + noise, so y ~ N(loading centre, 1)."""
    item = ANSWERING.items["recommend"]
    cut = float(item.cuts[7 - item.low - 1])  # the upper edge of the band of 6
    return 1 - NormalDist().cdf(cut - item.loading * centre)


def _cases(o: Opened) -> Cases:
    rule = next(r for r in with_rule().rules if r.id == o.rule)
    action = next(a for a in rule.actions if isinstance(a, OpenCase))
    assert action.sla is not None
    return Cases(o.step, o.rows, o.who, o.opened, o.resolved, rule=o.rule,
                 department=action.department, title=action.title, priority=action.priority,
                 sla_s=int(parse_duration(action.sla)))


@cache
def with_rule() -> Workspace:
    """The workspace kodinkone-rule: this file's, with the rules `damaged-delivery`,
    `detractor-callback` and `detractor-reask` on."""
    ws = document.load(WORKSPACE_FILE)
    name = {lang: f"{text} – {RULE_NAME[lang]}" for lang, text in (
        ws.name.items() if isinstance(ws.name, dict) else [("fi", ws.name), ("en", ws.name)])}
    rules = [r.model_copy(update={"enabled": True}) if r.id in (RULE, CALLBACK, REASK) else r
             for r in ws.rules]
    return ws.model_copy(update={"workspace": RULE_SLUG, "name": name, "rules": rules})


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))  # type: ignore[no-any-return]


def _orders(ids: pa.Array, who: np.ndarray, suffix: str) -> pa.Array:
    return pc.binary_join_element_wise(ids.take(pa.array(who)), suffix, "-")


def _customers(rng: np.random.Generator, ids: pa.Array, n: int) -> list[Customer]:
    segment = np.where(rng.random(n) < 0.3, "families", "households")
    u = rng.random(n)
    language = np.where(u < 0.06, "sv", np.where(u < 0.12, "en", "fi"))
    return [
        Customer(id=cid, name=name, email=f"{local}.{cid.rsplit('-', 1)[1]}@example.fi",
                 language=lang, segments=[seg])
        for cid, (name, local), lang, seg in zip(ids.to_pylist(), people(rng, n),
                                                  language.tolist(), segment.tolist(),
                                                  strict=True)
    ]


SCENARIO = Scenario(
    slug=SLUG,
    workspace_file=WORKSPACE_FILE,
    share=0.5,
    make_block=make_block,
)
RULE_SLUG = "kodinkone-rule"
RULE_NAME = {"fi": "kuljetusvauriosääntö päällä", "en": "with the damage rule"}
# Drawn as SCENARIO (the same seed stream), so the two histories differ by the rule only.
RULE_SCENARIO = Scenario(
    slug=RULE_SLUG,
    workspace_file=WORKSPACE_FILE,
    share=0.5,
    make_block=partial(make_block, rule=True),
    document=with_rule,
    stream_of=SLUG,
)
