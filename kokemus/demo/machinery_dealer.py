"""Konekauppa (B2B): construction companies buying an excavator.

Each account has 2-6 people in the decision: a researcher who digs up information, a decider,
and operators or finance people. They research for weeks before the dealer hears of them.
Lost touchpoints cost deals: when the researcher looks for a spec sheet and finds none, or
when the dealer never reaches the decider, the account buys from a competitor more often.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from kokemus.demo import feedback
from kokemus.demo.names import SURNAMES, people
from kokemus.demo.scenario import Block, Scenario
from kokemus.demo.timeline import (
    DAY,
    HOUR,
    MINUTE,
    OFFICE,
    Labels,
    Period,
    Timeline,
    numbered,
    pick,
    properties,
    uniform,
)
from kokemus.domain.events import Account, Customer, Stakeholder

SLUG = "konekauppa"
WORKSPACE_FILE = Path(__file__).with_name("machinery_dealer.yaml")
ROLES = ("researcher", "decider", "operator", "finance")
MODELS = ("KK-140", "KK-220", "KK-300", "KK-500")
COMPETITORS = ("Kaivurit Oy", "Maakone Ab", "Nordic Excavators")

# The planted truth: the chance of losing a decided deal to a competitor.
LOSS_BASE = 0.35
LOSS_SPEC_SHEET_MISSING = 0.30  # added when the researcher found no spec sheet
LOSS_DECIDER_UNREACHED = 0.25  # added when the dealer never met the decider
SPEC_SHEET_MISSING_RATE = 0.30  # accounts whose machine has no spec sheet online
DECIDER_REACHED_RATE = 0.70

# The survey after the sales meeting, cut from each account's latent scores (standard normal
# where nothing went wrong; docs/demo.md): information, lower when the researcher found no
# spec sheet, and the experience, 0.45 information + 0.89 noise. "Information" reads information,
# the recommendation and the other elements read the experience.
SPEC = ("found", "missing")
ANSWER_RATE = {"found": 0.30, "missing": 0.30}
SPEC_SHEET_MISSING_INFORMATION = -1.6
INFORMATION_WEIGHT = 0.45
FAIR = (0.05, 0.15, 0.35, 0.30, 0.15)  # 1..5, for a typical account
NPS = (0.01, 0.01, 0.02, 0.02, 0.03, 0.05, 0.06, 0.15, 0.25, 0.22, 0.18)
INFORMATION = (0.03, 0.07, 0.20, 0.40, 0.30)
COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "found": {
        "fi": ("Tarjous tuli hitaasti.", "Rahoitusvaihtoehdot olisi pitänyt kertoa heti."),
        "en": ("The quote was slow to come.", "The financing options should have been "
               "told at once."),
    },
    "missing": {
        "fi": ("Koneen teknisiä tietoja ei löytynyt verkosta; jouduimme soittamaan perään.",
               "Kilpailijan sivuilta löytyi esite heti, teiltä ei."),
        "en": ("The machine's specifications were not online; we had to call for them.",
               "The competitor's site had the brochure at once, yours did not."),
    },
}
ANSWERING = feedback.Answering(
    rate=ANSWER_RATE, comments={"better": feedback.Comments(COMMENTS, 0.5)},
    items={"recommend": feedback.Item(NPS, feedback.EXPERIENCE, 0.85, low=0),
           "value.information": feedback.Item(INFORMATION, "information", 0.85),
           **{f"value.{e}": feedback.Item(FAIR, feedback.EXPERIENCE, 0.5)
              for e in ("responsiveness", "expertise", "acceptable_price", "product_quality")}})


def _accounts(rng: np.random.Generator, size: int) -> np.ndarray:
    """People per account (2-6) adding up to `size` people exactly."""
    sizes = rng.integers(2, 7, size // 2 + 1)
    ends = np.cumsum(sizes)
    sizes = sizes[: int(np.searchsorted(ends, size, side="right"))]
    rest = size - int(sizes.sum())
    if rest >= 2 or len(sizes) == 0:
        sizes = np.append(sizes, rest)
    elif rest == 1:
        sizes[-1] += 1
    return sizes[sizes > 0]


def make_block(rng: np.random.Generator, period: Period, first: int, size: int) -> Block:
    tl = Timeline(period)
    p = period
    sizes = _accounts(rng, size)
    a_count = len(sizes)
    a_first = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # each account's researcher
    account = np.repeat(np.arange(a_count), sizes)  # account of each person
    rank = np.arange(len(account)) - a_first[account]
    # Person 0 researches, person 1 decides, the others operate the machine or finance it.
    role = np.where(rank == 0, 0, np.where(rank == 1, 1, rng.choice([0, 2, 2, 3], len(account))))
    decider = a_first + 1
    operator = np.full(a_count, -1)
    operator[account[role == 2][::-1]] = np.flatnonzero(role == 2)[::-1]  # the first one
    finance = np.full(a_count, -1)
    finance[account[role == 3][::-1]] = np.flatnonzero(role == 3)[::-1]

    start = p.starts(rng, a_count, OFFICE, within=(0.0, 0.75), weekend=0.1)
    research = uniform(rng, 20 * DAY, 90 * DAY, a_count)
    missing = rng.random(a_count) < SPEC_SHEET_MISSING_RATE
    reached = rng.random(a_count) < DECIDER_REACHED_RATE

    def during(acc: np.ndarray, low: float, high: float) -> np.ndarray:
        """Office-hour times at fractions [low, high) of each account's research."""
        frac = rng.uniform(low, high, len(acc))
        return p.daytime(rng, start[acc] + (research[acc] * frac).astype(np.int64), 8, 17)

    # Everyone looks at the website; researchers most.
    visits = np.where(role == 0, 6 + rng.poisson(8, len(role)), rng.poisson(3, len(role)))
    v = np.repeat(np.arange(len(role)), visits)
    tl.add("website_visited", v, during(account[v], 0.0, 1.0),
           pick(rng, ("web", "mobile"), (0.75, 0.25), len(v)), account=account[v])
    reads = rng.poisson(np.where(role == 2, 2.5, np.where(role == 0, 1.5, 0.4)))
    r = np.repeat(np.arange(len(role)), reads)
    tl.add("review_read", r, during(account[r], 0.1, 1.0), "reviews", account=account[r])
    letters = np.repeat(np.arange(len(role)), rng.poisson(1.2, len(role)))
    tl.add("newsletter_opened", letters, during(account[letters], 0.0, 1.0), "email",
           account=account[letters])

    # The spec sheet: searched 1-3 times; for some machines it is not there.
    researcher = a_first
    searches = 1 + rng.poisson(0.8, a_count)
    s = np.repeat(np.arange(a_count), searches)
    s_at = during(s, 0.1, 0.7)
    tl.add("spec_sheet_searched", researcher[s], s_at, "web", account=s,
           props=properties(model=pick(rng, MODELS, (3, 4, 2, 1), len(s))))
    lost = missing[s]
    tl.add("spec_sheet_missing", researcher[s[lost]], s_at[lost] + uniform(
        rng, 20, 3 * MINUTE, int(lost.sum())), "web", account=s[lost])
    tl.add("spec_sheet_downloaded", researcher[s[~lost]], s_at[~lost] + uniform(
        rng, 20, 3 * MINUTE, int((~lost).sum())), "web", account=s[~lost])

    # The spring trade fair and the dealer's yard: seen by operators or researchers.
    fair = p.start + int(0.4 * p.days) * DAY + 9 * HOUR
    at_fair = np.flatnonzero((start <= fair) & (fair <= start + research)
                             & (rng.random(a_count) < 0.6))
    visitor = np.where(operator >= 0, operator, researcher)
    tl.add("trade_fair_visited", visitor[at_fair], fair + uniform(rng, 0, 7 * HOUR,
                                                                  len(at_fair)),
           "trade-fair", account=at_fair)
    yard = np.flatnonzero(rng.random(a_count) < 0.4)
    tl.add("dealer_visited", visitor[yard], during(yard, 0.5, 0.95), "dealer", account=yard)

    # The dealer hears of the account only when the research is done.
    contacted = p.daytime(rng, start + research, 8, 17)
    everyone = np.arange(a_count)
    tl.add("sales_contacted", researcher, contacted, "phone", account=everyone)
    met = np.where(reached, decider, researcher)
    meeting = p.daytime(rng, contacted + uniform(rng, 2 * DAY, 10 * DAY, a_count), 8, 17)
    # The dealer's CRM notes whom they met: the decider, or only the researcher.
    meetings = tl.add("sales_meeting", met, meeting, "meeting", account=everyone,
                      props=properties(attendee_role=Labels(("researcher", "decider"),
                                                            reached.astype(np.int64))))
    asker = np.where(finance >= 0, finance, researcher)
    asked = p.daytime(rng, contacted + uniform(rng, 1 * DAY, 7 * DAY, a_count), 8, 17)
    tl.add("quote_requested", asker, asked, "email", account=everyone)
    quoted = p.daytime(rng, asked + uniform(rng, 6 * HOUR, 3 * DAY, a_count), 8, 17)
    tl.add("quote_sent", asker, quoted, "email", account=everyone,
           props=properties(model=pick(rng, MODELS, (3, 4, 2, 1), a_count)))
    calc = np.flatnonzero((finance >= 0) & (rng.random(a_count) < 0.6))
    tl.add("financing_calculated", finance[calc], quoted[calc] + uniform(
        rng, HOUR, 4 * DAY, len(calc)), "web", account=calc)
    shown = np.flatnonzero(rng.random(a_count) < 0.5)
    demo_at = p.daytime(rng, quoted[shown] + uniform(rng, 3 * DAY, 14 * DAY, len(shown)), 8, 16)
    tl.add("demo_held", visitor[shown], demo_at, "field", account=shown)

    loss = LOSS_BASE + LOSS_SPEC_SHEET_MISSING * missing + LOSS_DECIDER_UNREACHED * ~reached
    lost_deal = rng.random(a_count) < np.minimum(loss, 0.95)
    decided = p.daytime(rng, quoted + uniform(rng, 7 * DAY, 30 * DAY, a_count), 8, 17)
    w = np.flatnonzero(~lost_deal)
    tl.add("deal_won", met[w], decided[w], "meeting", account=w, props=properties(
        model=pick(rng, MODELS, (3, 4, 2, 1), len(w)),
        value_eur=rng.integers(90, 420, len(w)) * 1000))
    lo = np.flatnonzero(lost_deal)
    tl.add("deal_lost", met[lo], decided[lo], "meeting", account=lo,
           props=properties(competitor=pick(rng, COMPETITORS, (4, 3, 2), len(lo))))

    # Whom the dealer met is asked the next day how well the dealer did.
    noise = rng.spawn(1)[0].standard_normal((2, a_count))  # the latent scores' own
    information = noise[0] + SPEC_SHEET_MISSING_INFORMATION * missing
    experience = (INFORMATION_WEIGHT * information
                  + np.sqrt(1 - INFORMATION_WEIGHT**2) * noise[1])
    surveyed = feedback.invite(rng, p, feedback.workspace_of(WORKSPACE_FILE), [
        feedback.Triggered("after-meeting", meetings, everyone, met, meeting,
                           missing.astype(np.int64), SPEC, ANSWERING,
                           latent={feedback.EXPERIENCE: experience,
                                   "information": information})])

    ids = numbered(f"{SLUG}-", first, len(role))
    # An account is named by the number of its researcher, so ids never collide across blocks.
    account_ids = pa.array([f"{SLUG}-a{first + int(i):06d}" for i in a_first])
    return Block(tl, ids, *_stakeholders(rng, ids, account_ids, account, role), feedback=surveyed)


def _stakeholders(rng: np.random.Generator, ids: pa.Array, account_ids: pa.Array,
                  account: np.ndarray,
                  role: np.ndarray) -> tuple[list[Customer], pa.Array, list[Account]]:
    """The people as customers with account and role, and the accounts listing them."""
    person_ids: list[str] = ids.to_pylist()
    acc_ids: list[str] = account_ids.to_pylist()
    roles = [ROLES[r] for r in role.tolist()]
    segment = np.where(rng.random(len(acc_ids)) < 0.6, "earthworks", "building")
    companies = [f"{SURNAMES[s]} {'Maanrakennus' if seg == 'earthworks' else 'Rakennus'} Oy"
                 for s, seg in zip(rng.integers(0, len(SURNAMES), len(acc_ids)).tolist(),
                                   segment.tolist(), strict=True)]
    fleet = rng.integers(1, 40, len(acc_ids)).tolist()
    members: list[list[Stakeholder]] = [[] for _ in acc_ids]
    customers = []
    for pid, (name, local), acc, r in zip(person_ids, people(rng, len(person_ids)),
                                          account.tolist(), roles, strict=True):
        members[acc].append(Stakeholder(customer=pid, role=r))
        customers.append(Customer(
            id=pid, name=name, email=f"{local}.{pid.rsplit('-', 1)[1]}@example.fi",
            language="fi", segments=[str(segment[acc])], account=acc_ids[acc], role=r))
    accounts = [
        Account(id=aid, name=company, segments=[str(seg)],
                attributes={"fleet_size": size}, stakeholders=team)
        for aid, company, seg, size, team in zip(acc_ids, companies, segment.tolist(), fleet,
                                                    members, strict=True)
    ]
    return customers, account_ids, accounts


SCENARIO = Scenario(
    slug=SLUG,
    workspace_file=WORKSPACE_FILE,
    share=0.2,
    make_block=make_block,
)
