"""App store tables (SQLAlchemy Core). Every row but a user belongs to one workspace."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, stored in UTC and read back aware on every database: SQLite keeps no zone
    (it stores the digits it is given and returns naive values), PostgreSQL does."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("slug", String(64), nullable=False, unique=True),
    Column("version", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime(), nullable=False),
)

workspace_versions = Table(
    "workspace_versions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("source", String(500)),
    Column("applied_by", String(200)),
    Column("applied_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "version"),
)

accounts = Table(
    "accounts",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("segments", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

customers = Table(
    "customers",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("email", String(320)),
    Column("name", String(200)),
    Column("language", String(8)),
    Column("segments", JSON, nullable=False),
    # A soft reference: a customer may arrive before the account it belongs to.
    Column("account_id", String(200)),
    Column("role", String(64)),
    Column("attributes", JSON, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_customers_account", "workspace_id", "account_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("language", String(8), nullable=False, default="fi"),
    Column("created_at", UTCDateTime(), nullable=False),
    # A disabled user cannot sign in and their sessions are gone; the row stays for the audit.
    Column("disabled_at", UTCDateTime()),
)

# A user's role in one workspace (owner, editor, analyst, agent); instance administrators
# (users.is_admin) need none. No row: the workspace does not exist for that user.
# `departments`: the department ids whose cases an agent works (services/cases.py); the
# other roles see every case, and NULL or [] leaves an agent an empty inbox.
memberships = Table(
    "memberships",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("granted_by", String(200)),
    Column("granted_at", UTCDateTime(), nullable=False),
    Column("departments", JSON),
)

# Signed-in sessions, kept on the server so that signing out or disabling a user ends them
# at once. The cookie holds a random token; only its sha256 is stored here.
sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
    Column("address", String(64)),
    Index("ix_sessions_user", "user_id"),
)

# Who changed what. Kept by workspace slug, not by a foreign key: the record outlives the
# workspace, user or key it names.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("workspace", String(64)),
    Column("action", String(64), nullable=False),
    Column("target", String(300)),
    Column("detail", JSON),
    Index("ix_audit_log_workspace", "workspace", "at"),
)

# What a customer agreed to (or withdrew), one row per statement: the newest row for a
# (customer, purpose) is in force, and the older ones are the history an auditor asks for.
consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("customer", String(200), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("channel", String(64)),
    Column("text_version", String(64)),
    Column("source", String(64)),
    Index("ix_consents_customer", "workspace_id", "customer", "purpose", "at"),
)

# A customer who asked for no more surveys; honoured by every survey of the workspace.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("customer", String(200), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One invitation per (survey, triggering event): planning twice creates nothing twice. The
# table is also the outbox of invitation emails: `status` moves planned -> sent (or skipped
# with a reason, or failed after retries) -> answered.
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("survey", String(64), nullable=False),
    Column("customer", String(200), nullable=False),
    Column("touchpoint", String(64)),
    Column("channel", String(16), nullable=False),
    Column("event_id", String(200), nullable=False),
    Column("event_type", String(64)),
    Column("occurred_at", UTCDateTime()),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("sent_at", UTCDateTime()),
    Column("expires_at", UTCDateTime()),
    Column("opened_at", UTCDateTime()),
    Column("answered_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    # The revision of the response saved for this invitation (its id is the invitation's);
    # NULL: none saved, so a first post reads nothing. 0: saved before this was kept.
    Column("response_revision", Integer),
    UniqueConstraint("workspace_id", "survey", "event_id"),
    Index("ix_invitations_due", "status", "due_at"),
    Index("ix_invitations_customer", "workspace_id", "customer", "sent_at"),
)

# How far the survey triggers have read the event store, per workspace (by sequence number).
trigger_cursors = Table(
    "trigger_cursors",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Survey responses as submissions save them (storage/journal.py): each saved revision, its
# whole row as JSON, written in the same transaction as the invitation's marks (one commit
# a submission) and drained into DuckDB's responses table. A drained revision of a response
# still in progress stays a while (`drained`), so the respondent's next post reads it here.
response_journal = Table(
    "response_journal",
    metadata,
    Column("workspace_id", Integer, primary_key=True),
    Column("id", String(200), primary_key=True),
    Column("revision", Integer, primary_key=True, autoincrement=False),
    Column("customer", String(200)),
    Column("row", Text, nullable=False),
    Column("drained", Boolean, nullable=False),
    Column("saved_at", UTCDateTime(), nullable=False),
    Index("ix_response_journal_customer", "workspace_id", "customer"),
    Index("ix_response_journal_drained", "drained", "saved_at"),
)

# How far each rule stream has read (engine/rules.py): `stream` names what is read (the
# event store by sequence number, the answers by their journal position, a schedule by its
# last tick), `position` the last one acted on.
rule_cursors = Table(
    "rule_cursors",
    metadata,
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
    Column("stream", String(32), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# The rules' transactional outbox: one row per action a rule decided on, written in the same
# transaction as the cursor that read its cause. `key` (rule, action, cause) is the
# idempotency key: deciding again writes nothing twice, and receivers get it to de-duplicate.
# A worker claims a due row by moving `due_at` ahead (a lease) before delivering it.
actions = Table(
    "actions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("action", Integer, nullable=False),  # its place in the rule's actions
    Column("kind", String(24), nullable=False),  # survey, email, webhook, case, notify, ...
    Column("key", String(300), nullable=False),
    Column("customer", String(200)),
    Column("cause", String(200), nullable=False),  # the event, answer or tick that fired it
    Column("payload", Text, nullable=False),  # JSON: what delivering needs, as decided
    Column("status", String(16), nullable=False),  # planned, done, skipped, failed, dead
    Column("reason", String(300)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("done_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("workspace_id", "key"),
    Index("ix_actions_due", "status", "due_at"),
    Index("ix_actions_customer", "workspace_id", "customer", "done_at"),
)

# Cases: work a department owns for one customer (or account), opened by a rule or a person.
cases = Table(
    "cases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("number", Integer, nullable=False),  # per workspace, for people to say
    Column("department", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("customer", String(200)),
    Column("account", String(200)),
    Column("state", String(24), nullable=False),  # new, assigned, in_progress, waiting, ...
    Column("priority", String(16), nullable=False),
    Column("assignee", ForeignKey("users.id", ondelete="SET NULL")),
    Column("rule", String(64)),
    Column("cause", String(200)),  # the event or answer behind it
    Column("action_id", String(32), unique=True),  # the outbox row that opened it
    Column("sla_due_at", UTCDateTime()),
    Column("escalated", String(16)),  # at_risk, breached: the last escalation made
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("resolved_at", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    UniqueConstraint("workspace_id", "number"),
    Index("ix_cases_inbox", "workspace_id", "department", "state"),
    Index("ix_cases_customer", "workspace_id", "customer"),
)

# What happened to a case, who did it and when: notes, assignments, state changes.
case_events = Table(
    "case_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # note, assigned, state, escalated
    Column("author", ForeignKey("users.id", ondelete="SET NULL")),  # none: the engine
    Column("body", Text),
    Column("state", String(24)),
    Column("assignee", Integer),
    # who, as the audit log names them (user:NAME, key:PREFIX, cli:NAME, rule:ID): an API
    # key or a command has no user row, and a user's row may go while the history stays
    Column("actor", String(200)),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_case_events_case", "case_id", "at"),
)

# Answers given through a survey's test link (services/survey_tests.py): kept apart from the
# responses, which every score, count, report and export reads, so no analysis can count a
# test; the builder shows them to the team trying the survey.
test_responses = Table(
    "test_responses",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("workspace_id", ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
    Column("survey", String(64), nullable=False),
    Column("language", String(8), nullable=False),
    Column("answers", Text, nullable=False),  # JSON, as the survey's check normalised them
    Column("complete", Boolean, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_test_responses_survey", "workspace_id", "survey", "updated_at"),
)
