"""The store's tables: one SQLAlchemy Core ``MetaData`` shared by SQLite and PostgreSQL.

Ids are 64-bit on both: ``BIGINT`` on PostgreSQL, and ``INTEGER PRIMARY KEY`` (already 64-bit, and the only
spelling SQLite auto-increments) on SQLite, so a store keeps its ids when it moves between the two.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from erp_assist.settings import DEFAULT_TENANT

__all__ = [
    "SCHEMA_VERSION", "ROLES", "metadata", "schema_version", "tenants", "api_keys", "questions", "suggestions",
    "reviews", "tag_corrections", "learned", "ui_sessions", "tenant_column", "erp_lookups", "erp_alert_state",
    "erp_alert_posts", "kb_resolutions",
]

SCHEMA_VERSION = 7
ROLES = ("asker", "expert", "admin")
Id = BigInteger().with_variant(Integer(), "sqlite")


def tenant_column(index: bool = False) -> Column:
    # The same definition as migration 2's ALTER TABLE, so a migrated store and a new one agree.
    return Column("tenant", String(32), nullable=False, server_default=DEFAULT_TENANT, index=index)


metadata = MetaData()
schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))
tenants = Table(
    "tenants",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    tenant_column(),
)
questions = Table(
    "questions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("text", Text, nullable=False),
    Column("asker", String(200)),
    Column("group_name", String(200)),
    Column("context", Text),
    Column("module", String(50), nullable=False),
    Column("urgency", String(5), nullable=False),
    Column("module_confidence", Float, nullable=False),
    Column("urgency_confidence", Float, nullable=False),
    Column("cues", Text, nullable=False),
    Column("abstained", Boolean, nullable=False),
    Column("build_id", String(100)),
    Column("key_id", Id, ForeignKey("api_keys.id")),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    tenant_column(index=True),
    # Turned away by the off-topic gate (or marked so by an expert): kept out of the queue and the stats.
    Column("off_topic", Boolean, nullable=False, server_default=false()),
)
suggestions = Table(
    "suggestions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("question_id", Id, ForeignKey("questions.id"), nullable=False, index=True),
    Column("rank", Integer, nullable=False),
    Column("score", Float, nullable=False),
    Column("draft", Text, nullable=False),
    Column("source_type", String(10), nullable=False),
    Column("source_id", String(500), nullable=False),
    Column("uri", String(1000), nullable=False),
    Column("url", String(1000)),
    Column("title", Text, nullable=False),
    Column("excerpt", Text, nullable=False),
)
reviews = Table(
    "reviews",
    metadata,
    Column("id", Id, primary_key=True),
    Column("question_id", Id, ForeignKey("questions.id"), nullable=False, index=True),
    Column("suggestion_rank", Integer),
    Column("decision", String(10), nullable=False),
    Column("edited_answer", Text),
    Column("note", Text),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# Append-only: an expert's module and/or urgency for a question, with what the question carried before. The
# question row takes the new tags (so the queue re-sorts); the first correction keeps the classifier's own.
tag_corrections = Table(
    "tag_corrections",
    metadata,
    Column("id", Id, primary_key=True),
    Column("question_id", Id, ForeignKey("questions.id"), nullable=False, index=True),
    Column("module", String(50)),
    Column("urgency", String(5)),
    Column("previous_module", String(50), nullable=False),
    Column("previous_urgency", String(5), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("off_topic", Boolean),  # None: this correction left the off-topic flag alone
    Column("previous_off_topic", Boolean),  # None on corrections stored before schema 5
)
learned = Table(
    "learned_faq",
    metadata,
    Column("id", Id, primary_key=True),
    Column("review_id", Id, ForeignKey("reviews.id"), nullable=False),
    Column("question_id", Id, ForeignKey("questions.id"), nullable=False),
    Column("kind", String(10), nullable=False),  # "entry": a new FAQ; "alternate": another phrasing of a FAQ
    Column("faq_id", String(200), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text),
    Column("module", String(50)),
    Column("origin_uri", String(1000)),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    tenant_column(index=True),
)
# Logged-in review pages, shared by every API worker process. The id is the SHA-256 of the cookie's random token
# (a copy of the table logs nobody in); the key is re-checked on every request, so revoking it ends the session.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("key_id", Id, ForeignKey("api_keys.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# Live ERP lookups (assistant/erp): the audit trail — who asked, through which channel, what was read (model →
# fields, as JSON) and how it ended. Append-only.
erp_lookups = Table(
    "erp_lookups",
    metadata,
    Column("id", Id, primary_key=True),
    tenant_column(index=True),
    Column("asker", String(200), nullable=False),
    Column("channel", String(20), nullable=False),  # api, ui, dingtalk, feishu, wecom, cli
    Column("question", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("target", String(200), nullable=False),
    Column("connector", String(50), nullable=False),
    Column("reads", Text, nullable=False),
    Column("outcome", String(20), nullable=False),  # found, not_found, unreachable, not_allowed, rate_limited
    Column("latency_ms", Float),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)
# ERP alerts: the facts last posted for each (check, subject), so a re-run posts only what changed; resolved_at
# is set when the ERP no longer shows the trouble.
erp_alert_state = Table(
    "erp_alert_state",
    metadata,
    Column("id", Id, primary_key=True),
    tenant_column(index=True),
    Column("check_name", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("urgency", String(5), nullable=False),
    Column("message", Text, nullable=False),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("last_posted_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)
erp_alert_posts = Table(
    "erp_alert_posts",
    metadata,
    Column("id", Id, primary_key=True),
    tenant_column(index=True),
    Column("check_name", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("urgency", String(5), nullable=False),
    Column("message", Text, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("posted_at", DateTime(timezone=True), nullable=False, index=True),
)
# Append-only: experts' resolutions of knowledge-base hygiene findings (indexer.hygiene); the latest per finding
# counts and the next build applies it (merge, keep, retire, edit). Nothing is deleted: a retired source stays in
# its file and here.
kb_resolutions = Table(
    "kb_resolutions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("finding_id", String(64), nullable=False, index=True),
    Column("kind", String(20), nullable=False),  # duplicate, contradiction, stale
    Column("action", String(10), nullable=False),  # merge, keep, retire, edit
    Column("uris", Text, nullable=False),  # JSON list: the sources the finding named
    Column("target_uri", String(1000)),  # merge: the keeper; retire/edit: the source retired or edited
    Column("answer", Text),  # edit: the new answer
    Column("note", Text),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    tenant_column(index=True),
)
