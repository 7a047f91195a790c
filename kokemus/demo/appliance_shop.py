"""Kodinkonekauppa (B2C): the washing machine case of the source article.

A web shop promises express delivery and installation within 48 h and to tell about any
delay within 2 h. One of its three carriers, Kiito, damages 4 % of what it carries. The shop
then waits for the damaged machine to come back before it sends a new one, tells the
customer nothing, and refuses to cancel; those customers call, chat and score low.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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

SLUG = "kodinkone"
WORKSPACE_FILE = Path(__file__).with_name("appliance_shop.yaml")

CARRIERS = ("Kiito", "Rahtisiili", "Pakettiässä")
CARRIER_SHARE = (0.35, 0.40, 0.25)
# The planted truth: Kiito damages 4 % of its deliveries, the others hardly any.
DAMAGE_RATE = {"Kiito": 0.04, "Rahtisiili": 0.003, "Pakettiässä": 0.003}
DELAY_RATE = 0.06  # any carrier; the shop tells about these (DELAY_TOLD of them)
DELAY_TOLD = 0.85

PRODUCTS = ("washing_machine", "dishwasher", "fridge", "dryer", "stove")
PRODUCT_SHARE = (0.35, 0.20, 0.25, 0.10, 0.10)
PRICE_EUR = np.array([649, 579, 899, 549, 499])
ACCESSORIES = ("detergent_dispenser", "water_filter", "stacking_kit")

# Score distributions (probability of each value), by what happened on the way.
NPS = {  # 0..10
    "smooth": (0.01, 0.01, 0.01, 0.01, 0.02, 0.03, 0.04, 0.10, 0.22, 0.25, 0.30),
    "delayed_untold": (0.04, 0.04, 0.05, 0.06, 0.08, 0.10, 0.12, 0.14, 0.15, 0.12, 0.10),
    "damaged": (0.12, 0.10, 0.12, 0.12, 0.12, 0.12, 0.10, 0.08, 0.06, 0.04, 0.02),
}
CES = {  # 1..7, 7 = very easy
    "smooth": (0.02, 0.03, 0.05, 0.10, 0.20, 0.30, 0.30),
    "delayed_untold": (0.06, 0.08, 0.14, 0.20, 0.22, 0.18, 0.12),
    "damaged": (0.25, 0.25, 0.20, 0.12, 0.08, 0.06, 0.04),
}
CSAT = {  # 1..5
    "smooth": (0.02, 0.03, 0.10, 0.35, 0.50),
    "delayed_untold": (0.08, 0.15, 0.27, 0.30, 0.20),
    "damaged": (0.30, 0.30, 0.20, 0.12, 0.08),
}
RESPONSE_RATE = {"smooth": 0.35, "delayed_untold": 0.45, "damaged": 0.60}
OUTCOMES = tuple(RESPONSE_RATE)
# What half of the detractors write to "what could we have done better?", by outcome.
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
        "fi": ("Kuljetusliike rikkoi pesukoneen, eikä kukaan kertonut minulle. Huomasin sen "
               "itse verkosta, kun asentaja soitti.",
               "Uusi kone lähti vasta, kun rikkinäinen oli palautunut varastoon. En ollut "
               "edes saanut tilaamaani tuotetta!",
               "Kauppaa ei suostuttu perumaan, vaikka tarvitsin koneen heti.",
               "Ostin koneen kotiin toimitettuna ja asennettuna. En halunnut olla linkki "
               "kaupan ja kuljetusliikkeen välillä."),
        "en": ("The carrier broke the washing machine and nobody told me. I found out "
               "online myself when the installer called.",
               "The new machine left only after the broken one was back in the warehouse. "
               "I had not even received what I ordered!",
               "They refused to cancel the order although I needed the machine at once.",
               "I bought an appliance delivered and installed. I did not want to be the "
               "link between the shop and the carrier."),
    },
}


def _around(mean: float) -> tuple[float, ...]:
    """Probabilities of 1..7 centred on `mean` (a binomial shape)."""
    q = (mean - 1) / 6
    return tuple(math.comb(6, k) * q**k * (1 - q) ** (6 - k) for k in range(7))


# The quality survey two weeks after the installation (RATER, 1-7): what customers expect
# does not depend on what happened; what they perceive does, most in reliability and
# responsiveness, the dimensions the damaged deliveries broke.
EXPECTED = {"tangibles": 5.0, "reliability": 6.4, "responsiveness": 6.0, "assurance": 5.8,
            "empathy": 5.2}
PERCEIVED = {
    "smooth": {"tangibles": 5.3, "reliability": 6.1, "responsiveness": 5.7, "assurance": 5.8,
               "empathy": 5.0},
    "delayed_untold": {"tangibles": 5.2, "reliability": 4.6, "responsiveness": 4.0,
                       "assurance": 5.4, "empathy": 4.4},
    "damaged": {"tangibles": 5.0, "reliability": 2.3, "responsiveness": 2.2, "assurance": 3.8,
                "empathy": 2.8},
}
QUALITY = feedback.Answering(rate=RESPONSE_RATE, values={
    **{f"quality.{d}.expected": {o: _around(e) for o in OUTCOMES} for d, e in EXPECTED.items()},
    **{f"quality.{d}.perceived": {o: _around(PERCEIVED[o][d]) for o in OUTCOMES}
       for d in EXPECTED},
})
ANSWERING = feedback.Answering(
    rate=RESPONSE_RATE, values={"recommend": NPS, "effort": CES, "satisfied": CSAT},
    comments=COMMENTS, low={"recommend": 0})


def _fulfil(tl: Timeline, rng: np.random.Generator, who: np.ndarray, ordered: np.ndarray,
            express: np.ndarray, installation: np.ndarray, carrier: Labels,
            order: pa.Array) -> list[feedback.Triggered]:
    """From the paid order to the installation, for the orders given (one row per order);
    returns the events that trigger a survey, with what happened to each order."""
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
    k = np.flatnonzero(damaged)
    m = len(k)
    damage_at = due[k] - uniform(rng, 2 * HOUR, 6 * HOUR, m)
    tl.add("delivery_damaged", who[k], damage_at, "delivery", props=carrier_props.take(k))
    call = p.daytime(rng, damage_at + uniform(rng, 30 * MINUTE, 3 * HOUR, m))
    checked = call + uniform(rng, 5 * MINUTE, 60 * MINUTE, m)
    tl.add("order_status_checked", who[k], checked, "web")
    contact = p.daytime(rng, checked + uniform(rng, 10 * MINUTE, 90 * MINUTE, m))
    contact_channel = pick(rng, ("phone", "chat"), (0.6, 0.4), m)
    tl.add("service_contact", who[k], contact, contact_channel,
           props=properties(reason=Labels(("damaged_delivery",), np.zeros(m, np.int64))))
    refused = rng.random(m) < 0.7
    r = np.flatnonzero(refused)
    tl.add("cancellation_refused", who[k][r], contact[r]
           + uniform(rng, 5 * MINUTE, 30 * MINUTE, len(r)), contact_channel.take(r))
    again = np.flatnonzero(rng.random(m) < 0.5)
    tl.add("service_contact", who[k][again],
           p.daytime(rng, contact[again] + uniform(rng, 20 * HOUR, 30 * HOUR, len(again))),
           contact_channel.take(again),
           props=properties(reason=Labels(("damaged_delivery",), np.zeros(len(again),
                                                                           np.int64))))
    returned = p.daytime(rng, damage_at + uniform(rng, 3 * DAY, 7 * DAY, m), 7, 17)
    tl.add("return_received", who[k], returned, "delivery", props=carrier_props.take(k))
    reshipped = p.daytime(rng, returned + uniform(rng, 4 * HOUR, 20 * HOUR, m), 7, 21)
    tl.add("reshipped", who[k], reshipped, "delivery", props=carrier_props.take(k))
    due[k] = p.daytime(rng, reshipped + uniform(rng, 18 * HOUR, 48 * HOUR, m), 8, 20)

    # The delivery says whether an installation follows: the survey after a delivery
    # waits for the installation when there is one.
    delivered = tl.add("delivered", who, due, "delivery", props=properties(
        order=order, carrier=carrier, installation=installation))

    # Some customers follow the parcel online before it comes.
    look = np.flatnonzero(~damaged & (rng.random(n) < 0.3))
    tl.add("order_status_checked", who[look], shipped[look] + (
        (due[look] - shipped[look]) * rng.random(len(look))).astype(np.int64), "web")

    # The installer calls to agree a time; the installation follows the delivery.
    i = np.flatnonzero(installation)
    booked = p.daytime(rng, shipped[i] + uniform(rng, 1 * HOUR, 6 * HOUR, len(i)))
    booked[damaged[i]] = call[np.searchsorted(k, i[damaged[i]])]
    tl.add("installation_booked", who[i], booked, "phone", props=of(i))
    installed = p.daytime(rng, due[i] + np.where(
        express[i], uniform(rng, 1 * HOUR, 6 * HOUR, len(i)),
        uniform(rng, 24 * HOUR, 96 * HOUR, len(i))), 8, 19)
    completed = tl.add("installation_completed", who[i], installed, "installation",
                       props=of(i))

    outcome = np.where(damaged, 2, np.where(delayed & ~told, 1, 0))
    plain = np.flatnonzero(~installation)
    return [
        feedback.Triggered("after-delivery", delivered, plain, who[plain], due[plain],
                           outcome[plain], OUTCOMES, ANSWERING,
                           {"order": order.take(pa.array(plain))}),
        feedback.Triggered("after-installation", completed, np.arange(len(i)), who[i],
                           installed, outcome[i], OUTCOMES, ANSWERING,
                           {"order": order.take(pa.array(i))}),
        feedback.Triggered("quality", completed, np.arange(len(i)), who[i], installed,
                           outcome[i], OUTCOMES, QUALITY, {"order": order.take(pa.array(i))}),
    ]


def _order(tl: Timeline, rng: np.random.Generator, who: np.ndarray, at: np.ndarray,
           product: Labels, express: np.ndarray, installation: np.ndarray,
           channel: Labels, order: pa.Array) -> list[feedback.Triggered]:
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
    return _fulfil(tl, rng, who, paid, express, installation, carrier, order)


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


def make_block(rng: np.random.Generator, period: Period, first: int, size: int) -> Block:
    tl = Timeline(period)
    ids = numbered(f"{SLUG}-", first, size)
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
    triggered = _order(tl, rng, buyers, order_at, pick(rng, PRODUCTS, PRODUCT_SHARE, n), express,
           installation, channel, _orders(ids, buyers, "o1"))

    # Some come back for accessories weeks later: standard delivery, no installation.
    again = np.flatnonzero(rng.random(n) < 0.15)
    m = len(again)
    again_at = period.daytime(rng, order_at[again] + uniform(rng, 10 * DAY, 60 * DAY, m), 7, 23)
    tl.add("product_viewed", buyers[again], again_at - uniform(rng, 2 * MINUTE, 20 * MINUTE, m),
           "web", props=properties(product=pick(rng, ACCESSORIES, (1, 1, 1), m)))
    triggered += _order(tl, rng, buyers[again], again_at, pick(rng, ACCESSORIES, (1, 1, 1), m),
           np.zeros(m, bool), np.zeros(m, bool), Labels(("web",), np.zeros(m, np.int64)),
           _orders(ids, buyers[again], "o2"))

    # A few ask customer service something on the way, by phone or chat.
    asked = np.flatnonzero(rng.random(n) < 0.05)
    tl.add("service_contact", buyers[asked], period.daytime(
        rng, order_at[asked] + uniform(rng, HOUR, 3 * DAY, len(asked))),
        pick(rng, ("phone", "chat"), (0.5, 0.5), len(asked)),
        props=properties(reason=Labels(("question",), np.zeros(len(asked), np.int64))))

    # Surveys after the delivery or the installation; answers follow what happened.
    surveyed = feedback.invite(rng, period, feedback.workspace_of(WORKSPACE_FILE), triggered)
    feedback.feedback_events(tl, surveyed, "email")
    return Block(tl, ids, _customers(rng, ids, size), feedback=surveyed)


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
