"""The demo's feedback: who a survey's trigger invites, who answers, and what they say.

A scenario names the events that trigger each survey, what happened to the customer on the
way (an outcome per event, e.g. "damaged") and the latent scores that journey left: one
experience per journey and, where the survey asks about them, the quality of its touchpoints.
Every answer of a respondent is cut from those scores (`Item`): the answers of one person
move together as real ones do, and the planted effects show in all of them at once.
Invitations follow the workspace's own rules: the trigger's delay and sample, one invitation
per customer per `cap`, none sent in quiet hours, links valid for `link_valid`. After the
events are stored with their ids, `records` turns the invitations into app-store rows and
the answers into one Arrow table of responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from kokemus.demo.timeline import (
    DAY,
    HOUR,
    MINUTE,
    Ints,
    Labels,
    Period,
    Timeline,
    properties,
    uniform,
)
from kokemus.domain import kano
from kokemus.domain.events import Customer
from kokemus.domain.surveys import KANO_ANSWERS, Kano, Survey
from kokemus.domain.workspace import Workspace
from kokemus.storage.responses import SCHEMA as RESPONSES
from kokemus.workspace import document

ANSWER_MEDIAN = 3 * HOUR  # people answer soon or not at all: a log-normal wait
ANSWER_SIGMA = 1.3
EXPERIENCE = "experience"  # the latent score every journey has
NOT_ASKED = -99  # an answer left out (its latent score is NaN: e.g. no contact to rate)
ANY = "*"  # comments written whatever the outcome


@cache
def workspace_of(path: Path) -> Workspace:
    """A scenario's workspace document (its surveys and feedback policy), read once."""
    return document.load(path)


@dataclass(frozen=True)
class Item:
    """One answer cut from a latent score (an ordered probit): the respondent's score z
    (standard normal on a journey where nothing went wrong) is mixed with the answer's own
    noise, y = loading * z + sqrt(1 - loading^2) * e, e ~ N(0, 1), and the answer is the value
    whose band y falls in. The bands are where a typical journey's answers fall: z ~ N(0, 1)
    gives exactly `typical`; a journey that went wrong has a lower z, so every answer that
    loads on it falls together. Two answers loading a and b on one score correlate about
    a * b (less after the cut to a few values)."""

    typical: Sequence[float]  # probability of each value of the scale when z ~ N(0, 1)
    latent: str = EXPERIENCE  # the score it reads; a name the journey does not give is the
    # respondent's own, drawn per response (e.g. their standards, for expectations)
    loading: float = 0.8
    low: int = 1  # the scale's first value

    @cached_property
    def cuts(self) -> np.ndarray:
        p = np.asarray(self.typical, float)
        below = np.cumsum(p / p.sum())[:-1]
        unit = NormalDist()
        return np.array([unit.inv_cdf(min(max(float(b), 1e-12), 1 - 1e-12)) for b in below])

    def answer(self, rng: np.random.Generator, z: np.ndarray) -> Ints:
        """One answer per score (NOT_ASKED where the score is NaN)."""
        y = self.loading * z + np.sqrt(1 - self.loading**2) * rng.standard_normal(len(z))
        values = self.low + np.searchsorted(self.cuts, y)
        return np.where(np.isnan(z), NOT_ASKED, values)


@dataclass(frozen=True)
class KanoFeature:
    """A feature's planted Kano answers. Each respondent's category is drawn from `shares`
    (A, O, M, I, R, Q -> probability) and their pair of answers is one of that category's
    cells of the evaluation table (kokemus.domain.kano.TABLE), each cell equally likely: a
    must-be answer is (expect, neutral or live with; dislike), an attractive one (like;
    expect, neutral or live with). What a customer wants of a feature was formed before the
    journey, so nothing that happened on it moves the answers."""

    shares: Mapping[str, float]  # kano category -> share of respondents

    @cached_property
    def _cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The categories' probabilities, how many cells each has, and its cells (a row per
        category) as indices into the flattened table: functional * 5 + dysfunctional."""
        every = [c for c in kano.CATEGORIES if self.shares.get(c, 0) > 0]
        p = np.array([self.shares[c] for c in every], float)
        flat = [c for row in kano.TABLE for c in row]
        cells = [[i for i, c in enumerate(flat) if c == category] for category in every]
        table = np.zeros((len(every), max(map(len, cells))), np.int64)
        for row, found in enumerate(cells):
            table[row, :len(found)] = found
        return p / p.sum(), np.array([len(c) for c in cells]), table

    def answer(self, rng: np.random.Generator, n: int) -> tuple[Ints, Ints]:
        """The functional and dysfunctional answers of `n` respondents, as indices into
        KANO_ANSWERS."""
        p, sizes, table = self._cells
        category = rng.choice(len(p), n, p=p)
        cell = table[category, (rng.random(n) * sizes[category]).astype(np.int64)]
        side = len(KANO_ANSWERS)
        return cell // side, cell % side


@dataclass(frozen=True)
class Comments:
    """What those shown an open question write (a share `rate` of them, or the outcome's
    own rate in `rates`): a phrase from the pool of their journey's outcome, or of `ANY`, in
    their language. An outcome's pools are equally long in every language (the same phrases
    translated)."""

    pools: Mapping[str, Mapping[str, Sequence[str]]]  # outcome or ANY -> language -> phrases
    rate: float = 0.5
    rates: Mapping[str, float] = field(default_factory=dict)  # outcome -> its own rate

    def pool(self, outcome: str) -> Mapping[str, Sequence[str]] | None:
        return self.pools.get(outcome) or self.pools.get(ANY)


@dataclass(frozen=True)
class Answering:
    """How customers answer a survey: the share who answer, by outcome; per question id the
    item its answer is cut from (`question.item` for one element of a question asked per
    item, `question.item.expected` for one side of a pair; items of questions the survey
    does not have are left out); what they write to each open question; per
    `question.feature` of a Kano question the feature's planted answers."""

    rate: Mapping[str, float]
    items: Mapping[str, Item]
    comments: Mapping[str, Comments] = field(default_factory=dict)  # open question id ->
    kano: Mapping[str, KanoFeature] = field(default_factory=dict)  # `question.feature` ->


@dataclass
class Asked:
    """The invitations of one survey in one block, and the answers of those who answered
    (`answered` >= 0; the answer arrays hold one value per respondent, in row order)."""

    survey: Survey
    step: int  # the timeline step of the triggering events
    rows: Ints  # which events of that step triggered an invitation
    who: Ints
    due: Ints
    sent: Ints
    expires: Ints
    answered: Ints  # -1: no answer (yet)
    started: Ints  # when the respondent opened the survey
    one_click: np.ndarray  # answered from the scale in the email, not from the form
    outcome: Ints  # per invitation, an index into `outcomes`
    outcomes: Sequence[str]
    answers: dict[str, Ints]  # question (or question.item) -> value per respondent
    comment: Ints  # per respondent: the phrase number, -1 none
    comment_question: Ints  # per respondent: which of `open_questions` they answered
    open_questions: Sequence[str]
    comments: Mapping[str, Comments]
    properties: Mapping[str, pa.Array]  # per invitation

    @property
    def respondents(self) -> Ints:
        return np.flatnonzero(self.answered >= 0)


@dataclass(frozen=True)
class Triggered:
    """Events that trigger a survey: rows of a timeline step, whose customer and time they
    are, what happened to that customer (an outcome name per event) and the latent scores
    that journey left (name -> one float per event; `EXPERIENCE` at least)."""

    survey: str
    step: int
    rows: Ints
    who: Ints
    at: Ints
    outcome: Ints
    outcomes: Sequence[str]
    answering: Answering
    properties: Mapping[str, pa.Array] = field(default_factory=dict)  # for feedback_given
    latent: Mapping[str, np.ndarray] = field(default_factory=dict)


def _clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * HOUR + int(minutes) * MINUTE


def _out_of_quiet_hours(period: Period, t: Ints, start: str, end: str) -> Ints:
    """The first moment at or after `t` outside the quiet hours (local time)."""
    local = t + period.offset(t)
    second = local % DAY
    quiet_from, quiet_to = _clock(start), _clock(end)
    if quiet_from > quiet_to:  # over midnight, e.g. 21:00-08:00
        late, early = second >= quiet_from, second < quiet_to
        moved = local - second + np.where(late, DAY, 0) + quiet_to
        quiet = late | early
    else:
        quiet = (second >= quiet_from) & (second < quiet_to)
        moved = local - second + quiet_to
    return np.where(quiet, moved - period.offset(moved), t)


def _capped(who: Ints, due: Ints, cap: int) -> np.ndarray:
    """Mask of invitations kept when a customer gets at most one per `cap` seconds: the
    first, then the first due `cap` after the last kept, and so on (the engine's rule)."""
    n = len(who)
    keep = np.zeros(n, bool)
    if n == 0:
        return keep
    order = np.lexsort((due, who))
    w, d = who[order], due[order]
    last = np.full(int(w.max()) + 1, np.iinfo(np.int64).min // 2, np.int64)
    open_ = np.ones(n, bool)
    while open_.any():
        open_ &= d >= last[w] + cap  # too soon after the last one kept: not sent
        rows = np.flatnonzero(open_)
        first = rows[np.r_[True, w[rows[1:]] != w[rows[:-1]]]] if len(rows) else rows
        keep[order[first]] = True
        last[w[first]] = d[first]
        open_[first] = False
    return keep


def invite(rng: np.random.Generator, period: Period, workspace: Workspace,
           triggered: Sequence[Triggered]) -> list[Asked]:
    """The invitations the workspace's triggers make for these events, and the answers."""
    policy = workspace.feedback
    surveys = [workspace.survey(t.survey) for t in triggered]
    if any(s is None or s.trigger is None for s in surveys):
        raise ValueError(f"{workspace.workspace}: every demo survey needs a trigger")
    picked: list[np.ndarray] = []
    due: list[Ints] = []
    for t, survey in zip(triggered, surveys, strict=True):
        assert survey is not None and survey.trigger is not None
        d = t.at + int(survey.trigger.delay_seconds)
        # The event must be in the history, the invitation due within it, and sampled.
        picked.append((t.at >= period.start) & (d < period.end)
                      & (rng.random(len(t.rows)) < survey.trigger.sample))
        due.append(d)
    sizes = [int(p.sum()) for p in picked]
    kept = _capped(np.concatenate([t.who[p] for t, p in zip(triggered, picked, strict=True)]),
                   np.concatenate([d[p] for d, p in zip(due, picked, strict=True)]),
                   int(policy.cap_seconds))
    asked: list[Asked] = []
    start = 0
    for t, survey, p, d, size in zip(triggered, surveys, picked, due, sizes, strict=True):
        assert survey is not None
        rows = np.flatnonzero(p)[kept[start:start + size]]
        start += size
        asked.append(_answer(rng, period, workspace, survey, t, rows, d[rows]))
    return asked


def _answer(rng: np.random.Generator, period: Period, workspace: Workspace, survey: Survey,
            t: Triggered, rows: Ints, due: Ints) -> Asked:
    quiet = workspace.feedback.quiet_hours
    sent = (_out_of_quiet_hours(period, due, quiet.start, quiet.end) if quiet is not None
            else due)
    valid = int(workspace.feedback.link_seconds)
    n = len(rows)
    outcome = t.outcome[rows]
    rate = np.array([t.answering.rate[name] for name in t.outcomes])[outcome]
    wait = np.minimum(rng.lognormal(np.log(ANSWER_MEDIAN), ANSWER_SIGMA, n).astype(np.int64),
                      valid - MINUTE)
    answers_at = period.daytime(rng, sent + wait, 7, 23)
    answers_at = np.where(answers_at - sent < valid, answers_at, sent + wait)
    answered = np.where((rng.random(n) < rate) & (answers_at < period.end), answers_at, -1)
    started = np.where(answered >= 0, answered - uniform(rng, 30, 5 * MINUTE, n), -1)
    started = np.maximum(started, np.where(answered >= 0, sent, -1))
    one_click = rng.random(n) < 0.4
    r = np.flatnonzero(answered >= 0)
    values = _values(rng, survey, t, rows[r])
    asked_questions = [q for q in survey.questions
                       if q.type == "text" and q.id in t.answering.comments]
    comment = np.full(len(r), -1, np.int64)
    which = np.full(len(r), -1, np.int64)
    for number, text in enumerate(asked_questions):
        shown = which < 0  # one open question per respondent: the first shown to them
        rule = text.show_if
        if rule is not None:
            earlier = values[rule.question]
            shown &= earlier != NOT_ASKED
            if rule.at_least is not None:
                shown &= earlier >= rule.at_least
            if rule.at_most is not None:
                shown &= earlier <= rule.at_most
            if rule.in_ is not None:
                shown &= np.isin(earlier, [v for v in rule.in_ if isinstance(v, int)])
        said = t.answering.comments[text.id]
        sizes = np.array([len(next(iter(pool.values()))) if pool else 0
                          for pool in map(said.pool, t.outcomes)])
        size = sizes[outcome[r]]
        rates = np.array([said.rates.get(name, said.rate) for name in t.outcomes])
        writes = np.flatnonzero(shown & (size > 0) & (rng.random(len(r)) < rates[outcome[r]]))
        which[writes] = number
        comment[writes] = (rng.random(len(writes)) * size[writes]).astype(np.int64)
    return Asked(survey, t.step, t.rows[rows], t.who[rows], due, sent, sent + valid, answered,
                 started, one_click, outcome, t.outcomes, values, comment, which,
                 tuple(q.id for q in asked_questions), t.answering.comments,
                 {k: v.take(pa.array(rows)) for k, v in t.properties.items()})


def _values(rng: np.random.Generator, survey: Survey, t: Triggered,
            rows: Ints) -> dict[str, Ints]:
    """The answers of the respondents at `rows` of the trigger, every one cut from their
    journey's latent scores; a score the journey does not give is drawn once per response
    and shared by the items that read it. Kano answers are indices into KANO_ANSWERS."""
    asked = {q.id for q in survey.questions}
    own: dict[str, np.ndarray] = {}
    values: dict[str, Ints] = {}
    for key, item in t.answering.items.items():
        if key.split(".", 1)[0] not in asked:
            continue
        if item.latent in t.latent:
            z = np.asarray(t.latent[item.latent], float)[rows]
        else:
            z = own.setdefault(item.latent, rng.standard_normal(len(rows)))
        values[key] = item.answer(rng, z)
    for key, feature in t.answering.kano.items():
        if key.split(".", 1)[0] in asked:
            functional, dysfunctional = feature.answer(rng, len(rows))
            values[f"{key}.functional"], values[f"{key}.dysfunctional"] = (functional,
                                                                            dysfunctional)
    return values


def feedback_events(tl: Timeline, asked: Sequence[Asked], channel: str) -> list[int | None]:
    """A `feedback_given` event per response at the moment it was given, with the survey,
    the trigger's `properties` (e.g. the order) and the standard scores: the journey's
    feedback touchpoint says the same as the responses. Returns each `asked`'s timeline
    step (row j of it is respondent j), None where nobody answered."""
    steps: list[int | None] = []
    for a in asked:
        r = a.respondents
        if not len(r):
            steps.append(None)
            continue
        fields: dict[str, Labels | np.ndarray | pa.Array] = {
            "survey": Labels((a.survey.id,), np.zeros(len(r), np.int64))}
        for key, column in a.properties.items():
            fields[key] = column.take(pa.array(r))
        for kind in ("nps", "ces", "csat"):
            q = a.survey.first_of(kind)
            if q is not None:
                fields[kind] = a.answers[q.id]  # scores are always answered
        steps.append(tl.add("feedback_given", a.who[r], a.answered[r], channel,
                            props=properties(**fields)))
    return steps


def _scores(values: Ints) -> pa.Array:
    return pa.array(values, mask=values == NOT_ASKED)


def _times(seconds: Ints) -> list[datetime | None]:
    # datetime.fromtimestamp is several times faster than Arrow's to_pylist with a zone.
    return [datetime.fromtimestamp(v, UTC) if v >= 0 else None for v in seconds.tolist()]


def records(asked: Sequence[Asked], tl: Timeline, events: pa.Table, workspace_id: int,
            workspace: Workspace, customers: Sequence[Customer],
            created: datetime) -> tuple[list[dict[str, Any]], pa.Table]:
    """App-store rows of the invitations and an Arrow table of the responses (SCHEMA of
    storage.responses), for a block whose events table has been built."""
    languages = list(workspace.languages)
    language: list[str] = [c.language if c.language in languages else languages[0]
                           for c in customers]
    invitations: list[dict[str, Any]] = []
    parts: list[pa.Table] = []
    numbers = {s.id: i + 1 for i, s in enumerate(workspace.surveys)}
    for a in asked:
        # An invitation is named by its event and the survey's number in the workspace: the
        # same history gives the same invitations, so a second run stores nothing twice.
        at = tl.rows_in_table(a.step, a.rows)
        if (at < 0).any():  # pragma: no cover - invite() keeps events inside the period
            raise RuntimeError("an invitation's event is outside the history")
        take = pa.array(at)
        event_ids = events.column("id").take(take).combine_chunks()
        event_list = event_ids.to_pylist()
        ids = [f"{e}-{numbers[a.survey.id]}" for e in event_list]
        trigger = a.survey.trigger
        assert trigger is not None
        occurred = _times(a.due - int(trigger.delay_seconds))
        event_type = trigger.event
        due, sent, expires, answered, opened = (
            _times(a.due), _times(a.sent), _times(a.expires), _times(a.answered),
            _times(a.started))
        touchpoint = a.survey.touchpoint
        customer_ids = events.column("customer").take(take).to_pylist()
        for i, ident in enumerate(ids):
            invitations.append({
                "id": ident, "workspace_id": workspace_id, "survey": a.survey.id,
                "customer": customer_ids[i], "touchpoint": touchpoint,
                "channel": trigger.channel, "event_id": event_list[i],
                "event_type": event_type, "occurred_at": occurred[i], "due_at": due[i],
                "status": "answered" if answered[i] else "sent", "reason": None,
                "attempts": 1, "sent_at": sent[i], "expires_at": expires[i],
                "opened_at": opened[i], "answered_at": answered[i], "created_at": created,
            })
        parts.append(_responses(a, events, take, ids, workspace_id, customers, language))
    table = (pa.concat_tables(parts) if parts
             else RESPONSES.empty_table())
    return invitations, table


def _responses(a: Asked, events: pa.Table, take: pa.Array, ids: list[str],
               workspace_id: int, customers: Sequence[Customer],
               language: list[str]) -> pa.Table:
    r = a.respondents
    n = len(r)
    rows = pa.array(r)
    who = a.who[r].tolist()
    lang = [language[w] for w in who]
    answers: list[str] = []
    comments: list[str | None] = []
    paths = {k: k.split(".") for k in a.answers}
    kano_questions = {q.id for q in a.survey.questions if isinstance(q, Kano)}
    columns: dict[str, list[Any]] = {
        k: ([KANO_ANSWERS[i] for i in v.tolist()] if paths[k][0] in kano_questions
            else v.tolist())
        for k, v in a.answers.items()}
    for j in range(n):
        answer: dict[str, Any] = {}
        for key, values in columns.items():
            if values[j] == NOT_ASKED:
                continue
            *groups, last = paths[key]
            place = answer
            for group in groups:
                place = place.setdefault(group, {})
            place[last] = values[j]
        text = None
        if a.comment[j] >= 0:
            question = a.open_questions[a.comment_question[j]]
            pool = a.comments[question].pool(a.outcomes[a.outcome[r[j]]])
            assert pool is not None
            text = (pool.get(lang[j]) or next(iter(pool.values())))[a.comment[j]]
            answer[question] = text
        answers.append(orjson.dumps(answer).decode())
        comments.append(text)
    scores = {}
    for kind in ("nps", "ces", "csat"):
        q = a.survey.first_of(kind)
        scores[kind] = (_scores(a.answers[q.id]).cast(pa.int8()) if q is not None
                        else pa.nulls(n, pa.int8()))
    event_rows = take.take(rows)
    widget = a.survey.trigger is not None and a.survey.trigger.channel == "web"
    # An email invitation is answered with a one-click scale in the mail or on the form.
    source = np.where(widget, "widget", np.where(a.one_click[r], "email", "form"))
    return pa.table({
        "workspace_id": pa.array(np.full(n, workspace_id, np.int32)),
        "id": pa.array([ids[i] for i in r.tolist()], pa.string()),
        "survey": pa.array([a.survey.id] * n, pa.string()),
        "invitation": pa.array([ids[i] for i in r.tolist()], pa.string()),
        "customer": events.column("customer").take(event_rows),
        "account": events.column("account").take(event_rows),
        "role": pa.array([customers[w].role for w in who], pa.string()),
        "segments": pa.array([list(customers[w].segments) for w in who],
                             pa.list_(pa.string())),
        "touchpoint": pa.array([a.survey.touchpoint] * n, pa.string()),
        "channel": events.column("channel").take(event_rows),
        "source": pa.array(source.tolist(), pa.string()),
        "language": pa.array(lang, pa.string()),
        "event_id": events.column("id").take(event_rows),
        "answers": pa.array(answers, pa.string()),
        **scores,
        "comment": pa.array(comments, pa.string()),
        "complete": pa.array(np.ones(n, bool)),
        "started_at": pa.array(a.started[r] * 1_000_000, pa.timestamp("us", tz="UTC")),
        "updated_at": pa.array(a.answered[r] * 1_000_000, pa.timestamp("us", tz="UTC")),
        "revision": pa.array(np.ones(n, np.int32)),
    }, schema=RESPONSES)
