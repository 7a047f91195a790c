"""`kokemus rules ...`: the workspace's rules, what one of them would have fired over a past
period (nothing is written or sent), and one decision run of the engine.

`test` and `run` read the event store, so they go to a running server (cli/served.py);
`list` needs the app store alone and runs beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kokemus.cli.common import (
    DataDir,
    LimitOpt,
    OffsetOpt,
    Output,
    OutputOpt,
    WorkspaceOpt,
    caption,
    out,
    reports_errors,
    resolve,
    stores,
    workspace_for,
    write_csv,
    write_json,
)
from kokemus.domain.errors import KokemusError

if TYPE_CHECKING:
    from kokemus.domain.rules import Rule
    from kokemus.engine.rules import Decided, Fired, Replayed

rules_app = typer.Typer(
    help="Rules: when something happens (an event, an answer, a promise at risk or broken, "
         "a score crossing, a schedule), what to do (docs/rules.md).",
    no_args_is_help=True,
)


def describe(rule: Rule) -> str:
    """The trigger in one line, as the YAML says it."""
    from kokemus.domain.rules import OnAnswer, OnEvent, OnPromise, OnSchedule, OnScore

    when = rule.when
    parts: list[str] = []
    if isinstance(when, OnEvent):
        parts.append(f"event {when.event}")
        parts += [f"{key} {_condition(value)}" for key, value in when.where.items()]
        if when.segments:
            parts.append(f"segments {', '.join(when.segments)}")
        if when.roles:
            parts.append(f"roles {', '.join(when.roles)}")
        if when.consent:
            parts.append(f"consent {when.consent}")
    elif isinstance(when, OnAnswer):
        parts.append("answer" + (f" to {when.survey}" if when.survey else ""))
        for name in ("nps", "ces", "csat"):
            bound = getattr(when, name)
            if bound is not None:
                parts.append(f"{name} {_condition(bound)}")
        if when.theme:
            parts.append(f"theme {when.theme}")
    elif isinstance(when, OnPromise):
        parts.append(f"promise {when.state.replace('_', ' ')}")
        if when.commitments:
            parts.append(", ".join(when.commitments))
    elif isinstance(when, OnScore):
        bound = f"below {when.below:g}" if when.below is not None else f"above {when.above:g}"
        scope = " ".join(f"{k} {v}" for k, v in (("touchpoint", when.touchpoint),
                                                  ("segment", when.segment)) if v)
        parts.append(f"{when.score} {bound} over {when.window}" + (f", {scope}" if scope
                                                                   else ""))
    elif isinstance(when, OnSchedule):
        parts.append(f"schedule {when.cron}")
    return "; ".join(parts)


def _condition(value: Any) -> str:
    """A condition as people read it: `= "Kiito"`, `<= 6`, `in ["Kiito", "Rahtisiili"]`."""
    from kokemus.domain.rules import Compare

    if not isinstance(value, Compare):
        return f"= {_value(value)}"
    signs = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=",
             "not_in": "not in"}
    return " and ".join(f"{signs.get(op, op)} {_value(operand)}"
                        for op, operand in value.checks())


def _value(value: Any) -> str:
    import json

    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


@rules_app.command("list")
@reports_errors
def list_(
    output: OutputOpt = Output.table,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """The workspace's rules: trigger, actions, whether enabled, and how many actions each
    has written to the outbox so far."""
    from rich.table import Table
    from sqlalchemy import func, select

    from kokemus.storage.tables import actions

    with stores(data_dir) as kk:
        ws = workspace_for(kk, workspace)
        with kk.db.connect() as conn:
            written = {str(rule): int(n) for rule, n in conn.execute(
                select(actions.c.rule, func.count()).where(actions.c.workspace_id == ws.id)
                .group_by(actions.c.rule))}
    rules = ws.document.rules
    rows: list[dict[str, Any]] = [
        {"id": r.id, "enabled": r.enabled, "on": r.when.on, "when": describe(r),
         "actions": [a.do for a in r.actions], "written": written.get(r.id, 0)}
        for r in rules]
    if output is Output.json:
        write_json(rows)
        return
    if output is Output.csv:
        write_csv(({**row, "actions": " ".join(row["actions"])} for row in rows),
                  ["id", "enabled", "on", "when", "actions", "written"])
        return
    table = Table(caption=caption(len(rows), len(rows), "rules"))
    table.add_column("rule", no_wrap=True)  # an id is typed whole: `kokemus rules test ID`
    for name in ("on", "when", "actions", "enabled", "written"):
        table.add_column(name)
    for row in rows:
        table.add_row(row["id"], row["on"], row["when"], ", ".join(row["actions"]),
                      "yes" if row["enabled"] else "no", str(row["written"]))
    out.print(table)


@rules_app.command("test")
@reports_errors
def test(
    rule: Annotated[str, typer.Argument(help="The rule's id.")],
    since: Annotated[str, typer.Option(
        help="How far back to replay: 30d, 12h, 2w ...")] = "30d",
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", help="Take the rule from this workspace file (not yet applied) "
                             "instead of the applied workspace.")] = None,
    limit: LimitOpt = 50,
    offset: OffsetOpt = 0,
    output: OutputOpt = Output.table,
    workspace: WorkspaceOpt = None,
    data_dir: DataDir = None,
) -> None:
    """Replay the history: what RULE would have fired since then, for which cause and
    customer, with which actions. Nothing is written or sent. Segments, roles and consent
    are the customers' as they are now; an enabled: false rule is replayed too."""
    from kokemus.domain.durations import parse_duration
    from kokemus.engine import rules as engine
    from kokemus.services.workspaces import ActiveWorkspace
    from kokemus.workspace import document

    try:
        seconds = parse_duration(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    until = datetime.now(UTC)
    with stores(data_dir, events=True) as kk:
        ws = workspace_for(kk, workspace)
        if file is not None:
            doc = document.load(resolve(file))
            if doc.workspace != ws.slug:
                raise KokemusError(f"{file} is workspace '{doc.workspace}', not '{ws.slug}'")
            ws = ActiveWorkspace.of(ws.id, ws.version, doc)
        chosen = next((r for r in ws.document.rules if r.id == rule), None)
        if chosen is None:
            known = ", ".join(r.id for r in ws.document.rules) or "none"
            raise KokemusError(f"no rule '{rule}' in workspace '{ws.slug}' (known: {known})")
        replayed = engine.replay(kk, ws, chosen, until - timedelta(seconds=seconds), until)
    _replayed(replayed, since, limit, offset, output)


def fired_row(fired: Fired) -> dict[str, Any]:
    cause = fired.cause
    return {"at": cause.occurred_at.isoformat(), "cause": cause.type, "id": cause.id,
            "customer": cause.customer, "actions": [a.do for a in fired.rule.actions]}


def _replayed(replayed: Replayed, since: str, limit: int, offset: int,
              output: Output) -> None:
    rows = [fired_row(f) for f in replayed.fired]
    if output is Output.json:
        write_json({"rule": replayed.rule.id, "since": replayed.since.isoformat(),
                    "until": replayed.until.isoformat(), "matched": replayed.matched,
                    "not_targeted": replayed.not_targeted, "fired": len(rows),
                    "causes": rows[offset:offset + limit]})
        return
    if output is Output.csv:
        write_csv(({**row, "actions": " ".join(row["actions"])}
                   for row in rows[offset:offset + limit]),
                  ["at", "cause", "id", "customer", "actions"])
        return
    from rich.table import Table

    rule = replayed.rule
    outside = (f"; {replayed.not_targeted} outside its segments, roles or consent, "
               "or held out"
               if replayed.not_targeted else "")
    out.print(f"rule {rule.id} ({describe(rule)}) would have fired {len(rows)} times in the "
              f"last {since}, {len(rows) * len(rule.actions)} actions{outside}; nothing was "
              "written or sent", highlight=False)
    page = rows[offset:offset + limit]
    table = Table("when (UTC)", "cause", "customer", "actions",
                  caption=caption(len(page), len(rows), "causes", offset))
    for row in page:
        table.add_row(row["at"][:19].replace("T", " "), f"{row['cause']} {row['id']}",
                      row["customer"] or "", ", ".join(row["actions"]))
    out.print(table)


@rules_app.command("run")
@reports_errors
def run(data_dir: DataDir = None) -> None:
    """Decide once, every workspace: what the worker does every few seconds (the actions
    are written to the outbox; `kokemus actions` lists them, the worker delivers them)."""
    from kokemus.engine import rules as engine
    from kokemus.engine.worker import RUNS

    with stores(data_dir, events=True) as kk, RUNS:
        _decided(engine.run(kk))


def _decided(done: Decided) -> None:
    causes = "cause" if done.fired == 1 else "causes"
    out.print(f"rules: {done.planned} actions planned from {done.fired} {causes} "
              f"({done.events} new events, {done.answers} answers read; {done.matched} "
              f"matched, {done.not_targeted} outside segments, roles or consent or held out, "
              f"{done.stale} too old; {done.again} planned before; {done.crossings} score "
              f"crossings, {done.ticks} schedule ticks)", highlight=False)
