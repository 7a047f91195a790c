"""A survey's test link: the team answers the real form, and the answers stay tests.

A test link names the workspace and the survey (not a customer or an invitation), is
signed with the instance's key like an invitation link and expires. What is answered
through it is checked by the survey like any response and stored in `test_responses`, a
table of its own: the responses table that every score, count, driver, report and export
reads never holds a test, so none of them has to remember to leave tests out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, delete, func, insert, select, update

from kokemus.domain.surveys import Survey
from kokemus.services.feedback import LinkError, new_id
from kokemus.storage.tables import test_responses

VALID = timedelta(days=14)  # how long a test link works
KEEP = 200  # test answers kept per survey: the newest; older ones go as new ones come


@dataclass(frozen=True)
class TestLink:
    workspace_id: int
    survey: str
    expires_at: datetime


def _mac(secret: str, body: str) -> str:
    # "test:" keeps a test token from ever verifying as an invitation token, and back
    mac = hmac.new(secret.encode(), f"test:{body}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(secret: str, workspace_id: int, survey_id: str, now: datetime) -> str:
    body = f"{workspace_id:x}.{survey_id}.{int((now + VALID).timestamp()):x}"
    return f"{body}.{_mac(secret, body)}"


def verify(secret: str, token: str, now: datetime) -> TestLink:
    """The link's workspace and survey; LinkError('forged' | 'expired') otherwise."""
    parts = token.split(".")
    if len(parts) != 4 or len(token) > 200:
        raise LinkError("forged", "this test link is not valid")
    workspace, survey, expiry, mac = parts
    body = f"{workspace}.{survey}.{expiry}"
    if not hmac.compare_digest(_mac(secret, body).encode(), mac.encode()):
        raise LinkError("forged", "this test link is not valid")
    try:
        ident, expires = int(workspace, 16), int(expiry, 16)
    except ValueError:  # signed, so ours: cannot happen unless the key leaked
        raise LinkError("forged", "this test link is not valid") from None
    if expires < now.timestamp():
        raise LinkError("expired", "this test link has expired")
    return TestLink(ident, survey, datetime.fromtimestamp(expires, now.tzinfo))


def get(db: Engine, workspace_id: int, response_id: str) -> dict[str, Any] | None:
    with db.connect() as conn:
        row = conn.execute(select(test_responses).where(
            test_responses.c.workspace_id == workspace_id,
            test_responses.c.id == response_id)).mappings().first()
    if row is None:
        return None
    return {**row, "answers": orjson.loads(row["answers"])}


def save(db: Engine, workspace_id: int, survey: Survey, language: str, response_id: str | None,
         posted: dict[str, Any], on_page: list[str], now: datetime) -> dict[str, Any]:
    """Save a test form's post over what that test response holds, as the real form does
    (skip logic settled, answers checked: AnswerError if one is not valid, nothing saved).
    A new test response when `response_id` is None or names none of this survey."""
    old = get(db, workspace_id, response_id) if response_id else None
    if old is not None and old["survey"] != survey.id:
        old = None
    saved = old["answers"] if old else {}
    settled, finished = survey.settle(saved, posted, on_page)
    clean = survey.check({**saved, **settled}, complete=finished)
    values = {"answers": orjson.dumps(clean).decode(), "updated_at": now,
              "complete": finished or bool(old and old["complete"])}
    with db.begin() as conn:
        if old is not None:
            conn.execute(update(test_responses).where(
                test_responses.c.id == old["id"]).values(**values))
            ident = old["id"]
        else:
            ident = new_id()
            conn.execute(insert(test_responses).values(
                id=ident, workspace_id=workspace_id, survey=survey.id, language=language,
                started_at=now, **values))
            _trim(conn, workspace_id, survey.id)
    found = get(db, workspace_id, ident)
    assert found is not None
    return found


def _trim(conn: Any, workspace_id: int, survey_id: str) -> None:
    """Keep the newest KEEP test answers of a survey: a test link passed around cannot
    fill the app store."""
    mine = (test_responses.c.workspace_id == workspace_id) & (test_responses.c.survey == survey_id)
    kept = select(test_responses.c.id).where(mine).order_by(
        test_responses.c.updated_at.desc(), test_responses.c.id.desc()).limit(KEEP)
    conn.execute(delete(test_responses).where(mine, test_responses.c.id.not_in(kept)))


def recent(db: Engine, workspace_id: int, survey_id: str,
           limit: int = 5) -> tuple[int, list[dict[str, Any]]]:
    """How many test answers a survey has, and the newest `limit` of them."""
    mine = (test_responses.c.workspace_id == workspace_id) & (test_responses.c.survey == survey_id)
    with db.connect() as conn:
        total = conn.execute(select(func.count()).select_from(test_responses)
                             .where(mine)).scalar_one()
        rows = conn.execute(select(test_responses).where(mine).order_by(
            test_responses.c.updated_at.desc()).limit(limit)).mappings().all()
    return int(total), [{**r, "answers": orjson.loads(r["answers"])} for r in rows]


def clear(db: Engine, workspace_id: int, survey_id: str) -> int:
    """Forget a survey's test answers; how many there were."""
    with db.begin() as conn:
        gone = conn.execute(delete(test_responses).where(
            test_responses.c.workspace_id == workspace_id,
            test_responses.c.survey == survey_id))
    return int(gone.rowcount or 0)
