"""The review store: tenants, questions with their drafts, the append-only review trail, learned knowledge, API keys.

SQLite through SQLAlchemy Core, WAL mode, numbered migrations, one transaction per write. Plain functions with
keyword-only arguments; no ORM session leaks out.

Every API key, question and learned FAQ row belongs to one tenant (a company or group with a knowledge base of
its own). Every function that reads or changes questions takes a required ``tenant`` and filters by it here, in
the store: another tenant's question id is indistinguishable from a missing one.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)

from erp_assist.domain import Decision, Document, SourceType, SuggestResult
from erp_assist.errors import ErpAssistError
from erp_assist.settings import DEFAULT_TENANT, validate_tenant_id

__all__ = [
    "Role",
    "Tenant",
    "TenantSummary",
    "ApiKey",
    "StoredQuestion",
    "StoredSuggestion",
    "StoredReview",
    "NotFoundError",
    "ConflictError",
    "open_store",
    "validate_tenant_id",
    "create_tenant",
    "get_tenant",
    "list_tenants",
    "record_question",
    "get_question",
    "list_queue",
    "record_review",
    "reopen_question",
    "learned_documents",
    "create_key",
    "find_key",
    "review_stats",
    "tag_changes",
    "TagCorrection",
    "correct_tags",
    "expert_labelled_questions",
    "SCHEMA_VERSION",
]

SCHEMA_VERSION = 3
ROLES = ("asker", "expert", "admin")
Role = str


def _tenant_column(index: bool = False) -> Column:
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
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
    _tenant_column(),
)
questions = Table(
    "questions",
    metadata,
    Column("id", Integer, primary_key=True),
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
    Column("key_id", Integer, ForeignKey("api_keys.id")),
    Column("status", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    _tenant_column(index=True),
)
suggestions = Table(
    "suggestions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("question_id", Integer, ForeignKey("questions.id"), nullable=False, index=True),
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
    Column("id", Integer, primary_key=True),
    Column("question_id", Integer, ForeignKey("questions.id"), nullable=False, index=True),
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
    Column("id", Integer, primary_key=True),
    Column("question_id", Integer, ForeignKey("questions.id"), nullable=False, index=True),
    Column("module", String(50)),
    Column("urgency", String(5)),
    Column("previous_module", String(50), nullable=False),
    Column("previous_urgency", String(5), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
learned = Table(
    "learned_faq",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("review_id", Integer, ForeignKey("reviews.id"), nullable=False),
    Column("question_id", Integer, ForeignKey("questions.id"), nullable=False),
    Column("kind", String(10), nullable=False),  # "entry": a new FAQ; "alternate": another phrasing of a FAQ
    Column("faq_id", String(200), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text),
    Column("module", String(50)),
    Column("origin_uri", String(1000)),
    Column("reviewer", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    _tenant_column(index=True),
)


class NotFoundError(ErpAssistError, LookupError):
    """No such tenant, question or suggestion (in the caller's tenant)."""


class ConflictError(ErpAssistError):
    """The request does not fit the question's current state."""


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class TenantSummary:
    """A tenant and the size of its review store (for ``erp-assist tenants list``)."""

    tenant: Tenant
    keys: int  # active (not revoked)
    questions: int
    open: int


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    role: Role
    tenant: str


@dataclass(frozen=True)
class StoredSuggestion:
    rank: int
    score: float
    draft: str
    source_type: str
    source_id: str
    uri: str
    url: str | None
    title: str
    excerpt: str


@dataclass(frozen=True)
class StoredReview:
    id: int
    suggestion_rank: int | None
    decision: str
    edited_answer: str | None
    note: str | None
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class TagCorrection:
    id: int
    module: str | None  # None: this correction left the module alone
    urgency: str | None
    previous_module: str
    previous_urgency: str
    reviewer: str
    created_at: datetime


@dataclass(frozen=True)
class StoredQuestion:
    id: int
    text: str
    asker: str | None
    group: str | None
    module: str
    urgency: str
    module_confidence: float
    urgency_confidence: float
    cues: list[str]
    abstained: bool
    status: str
    key_id: int | None
    tenant: str
    created_at: datetime
    suggestions: list[StoredSuggestion]
    reviews: list[StoredReview]
    tag_corrections: list[TagCorrection] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime) -> datetime:
    # SQLite drops the offset; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def open_store(url: str) -> Engine:
    """Engine for the store; creates the schema on first use, migrates an older one, refuses a newer one."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    with engine.begin() as conn:
        version = (conn.execute(select(schema_version.c.version)).scalar()
                   if inspect(conn).has_table(schema_version.name) else None)
        if version is not None and version > SCHEMA_VERSION:
            raise ErpAssistError(f"database schema {version} is newer than this erp-assist ({SCHEMA_VERSION}); upgrade")
        metadata.create_all(conn)  # new tables only; columns added to old tables come from the migrations
        if version is None:
            conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
        else:
            for number in range(version + 1, SCHEMA_VERSION + 1):
                _MIGRATIONS[number](conn)
            conn.execute(update(schema_version).values(version=SCHEMA_VERSION))
        if conn.execute(select(tenants.c.id).where(tenants.c.id == DEFAULT_TENANT)).first() is None:
            conn.execute(insert(tenants).values(id=DEFAULT_TENANT, name=DEFAULT_TENANT, created_at=_now()))
    return engine


def _add_tenants(conn: Connection) -> None:
    """2: a ``tenant`` on keys, questions and learned FAQ rows; everything already stored is the default tenant's."""
    for table in (api_keys, questions, learned):
        if "tenant" not in {c["name"] for c in inspect(conn).get_columns(table.name)}:
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN tenant VARCHAR(32) NOT NULL "
                              f"DEFAULT '{DEFAULT_TENANT}'"))
    for table in (questions, learned):
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS ix_{table.name}_tenant ON {table.name} (tenant)"))


def _add_tag_corrections(conn: Connection) -> None:
    """3: experts' module/urgency corrections (a new table; nothing stored changes)."""
    tag_corrections.create(conn, checkfirst=True)


# schema version → the step that brings the version before it there
_MIGRATIONS = {2: _add_tenants, 3: _add_tag_corrections}


# Tenants ---------------------------------------------------------------------------------------------


def _tenant_row(conn: Connection, tenant_id: str):  # noqa: ANN202
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFoundError(f"no tenant {tenant_id!r}; create it with `erp-assist tenants create {tenant_id}`")
    return row


def create_tenant(engine: Engine, *, tenant_id: str, name: str | None = None) -> Tenant:
    """A new tenant: an empty review queue and FAQ store of its own (its sources and index live on disk)."""
    validate_tenant_id(tenant_id)
    with engine.begin() as conn:
        if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is not None:
            raise ConflictError(f"tenant {tenant_id!r} already exists")
        now = _now()
        conn.execute(insert(tenants).values(id=tenant_id, name=name or tenant_id, created_at=now))
    return Tenant(tenant_id, name or tenant_id, now)


def get_tenant(engine: Engine, *, tenant_id: str) -> Tenant:
    with engine.connect() as conn:
        row = _tenant_row(conn, tenant_id)
    return Tenant(row.id, row.name, _aware(row.created_at))


def list_tenants(engine: Engine) -> list[TenantSummary]:
    """Every tenant with its active keys, questions and open questions (an operator's view across tenants)."""
    with engine.connect() as conn:
        rows = conn.execute(select(tenants).order_by(tenants.c.id)).all()
        keys = dict(conn.execute(select(api_keys.c.tenant, func.count()).where(api_keys.c.revoked.is_(False))
                                 .group_by(api_keys.c.tenant)).all())
        asked = dict(conn.execute(select(questions.c.tenant, func.count()).group_by(questions.c.tenant)).all())
        waiting = dict(conn.execute(select(questions.c.tenant, func.count()).where(questions.c.status == "open")
                                    .group_by(questions.c.tenant)).all())
    return [TenantSummary(Tenant(r.id, r.name, _aware(r.created_at)), keys.get(r.id, 0), asked.get(r.id, 0),
                          waiting.get(r.id, 0)) for r in rows]


# Keys ------------------------------------------------------------------------------------------------


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engine: Engine, *, name: str, role: Role, tenant: str = DEFAULT_TENANT) -> tuple[ApiKey, str]:
    """A new API key of ``tenant``; the plain key is returned once and only its hash is stored."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    plain = "ea_" + secrets.token_urlsafe(24)
    with engine.begin() as conn:
        _tenant_row(conn, tenant)
        key_id = conn.execute(
            insert(api_keys).values(name=name, role=role, key_hash=_hash_key(plain), created_at=_now(), revoked=False,
                                    tenant=tenant)
        ).inserted_primary_key[0]
    return ApiKey(key_id, name, role, tenant), plain


def find_key(engine: Engine, *, plain: str) -> ApiKey | None:
    """The active key, with the tenant it belongs to (which decides everything its caller may see)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(api_keys).where(api_keys.c.key_hash == _hash_key(plain), api_keys.c.revoked.is_(False))
        ).first()
    return ApiKey(row.id, row.name, row.role, row.tenant) if row else None


# Questions and reviews -------------------------------------------------------------------------------


def record_question(engine: Engine, *, tenant: str, result: SuggestResult, asker: str | None = None,
                    group: str | None = None, context: str | None = None, key_id: int | None = None) -> int:
    """Store one suggest call in ``tenant``'s queue: the question, its tags and every draft shown."""
    c = result.classification
    with engine.begin() as conn:
        _tenant_row(conn, tenant)
        if key_id is not None:
            owner = conn.execute(select(api_keys.c.tenant).where(api_keys.c.id == key_id)).scalar()
            if owner != tenant:
                raise ValueError(f"key {key_id} belongs to tenant {owner!r}, not {tenant!r}")
        question_id = conn.execute(
            insert(questions).values(
                text=result.question, asker=asker, group_name=group, context=context, module=c.module,
                urgency=c.urgency.value, module_confidence=c.module_confidence,
                urgency_confidence=c.urgency_confidence, cues=json.dumps(c.cues, ensure_ascii=False),
                abstained=result.abstained, build_id=result.build_id, key_id=key_id, status="open", created_at=_now(),
                tenant=tenant,
            )
        ).inserted_primary_key[0]
        if result.suggestions:
            conn.execute(insert(suggestions), [
                {"question_id": question_id, "rank": s.rank, "score": s.score, "draft": s.draft,
                 "source_type": s.source.type.value, "source_id": s.source.id, "uri": s.source.uri,
                 "url": s.source.url, "title": s.source.title, "excerpt": s.excerpt}
                for s in result.suggestions
            ])
    return int(question_id)


def _question(conn, row) -> StoredQuestion:  # noqa: ANN001
    drafts = conn.execute(select(suggestions).where(suggestions.c.question_id == row.id).order_by(suggestions.c.rank))
    trail = conn.execute(select(reviews).where(reviews.c.question_id == row.id).order_by(reviews.c.id))
    retags = conn.execute(select(tag_corrections).where(tag_corrections.c.question_id == row.id)
                          .order_by(tag_corrections.c.id))
    return StoredQuestion(
        id=row.id, text=row.text, asker=row.asker, group=row.group_name, module=row.module, urgency=row.urgency,
        module_confidence=row.module_confidence, urgency_confidence=row.urgency_confidence,
        cues=json.loads(row.cues), abstained=row.abstained, status=row.status, key_id=row.key_id,
        tenant=row.tenant, created_at=_aware(row.created_at),
        suggestions=[StoredSuggestion(d.rank, d.score, d.draft, d.source_type, d.source_id, d.uri, d.url, d.title,
                                      d.excerpt) for d in drafts],
        reviews=[StoredReview(r.id, r.suggestion_rank, r.decision, r.edited_answer, r.note, r.reviewer,
                              _aware(r.created_at)) for r in trail],
        tag_corrections=[_tag_correction(t) for t in retags],
    )


def _tag_correction(row) -> TagCorrection:  # noqa: ANN001
    return TagCorrection(row.id, row.module, row.urgency, row.previous_module, row.previous_urgency,
                         row.reviewer, _aware(row.created_at))


def _question_row(conn: Connection, tenant: str, question_id: int):  # noqa: ANN202
    # Another tenant's question gets the very same answer as a missing one: its existence is not disclosed.
    row = conn.execute(select(questions).where(questions.c.id == question_id, questions.c.tenant == tenant)).first()
    if row is None:
        raise NotFoundError(f"no question {question_id}")
    return row


def get_question(engine: Engine, *, tenant: str, question_id: int) -> StoredQuestion:
    with engine.connect() as conn:
        return _question(conn, _question_row(conn, tenant, question_id))


def list_queue(engine: Engine, *, tenant: str, module: str | None = None, limit: int = 100) -> list[StoredQuestion]:
    """``tenant``'s open questions, P1 first, then oldest first."""
    query = select(questions).where(questions.c.tenant == tenant, questions.c.status == "open")
    if module:
        query = query.where(questions.c.module == module)
    query = query.order_by(questions.c.urgency, questions.c.created_at, questions.c.id).limit(limit)
    with engine.connect() as conn:
        return [_question(conn, row) for row in conn.execute(query).all()]


def record_review(engine: Engine, *, tenant: str, question_id: int, decision: Decision, reviewer: str,
                  suggestion_rank: int | None = None, edited_answer: str | None = None,
                  note: str | None = None) -> StoredReview:
    """Append a decision; accept/edit also teach the knowledge base. The trail is never rewritten."""
    if decision is Decision.EDIT and not (edited_answer or "").strip():
        raise ValueError("decision 'edit' needs edited_answer: the corrected answer text")
    if decision is Decision.ACCEPT and suggestion_rank is None:
        raise ValueError("decision 'accept' needs suggestion_rank: which draft is accepted")
    with engine.begin() as conn:
        row = _question_row(conn, tenant, question_id)
        if row.status != "open":
            raise ConflictError(f"question {question_id} is already {row.status}; reopen it first")
        draft = None
        if suggestion_rank is not None:
            draft = conn.execute(select(suggestions).where(
                suggestions.c.question_id == question_id, suggestions.c.rank == suggestion_rank)).first()
            if draft is None:
                raise NotFoundError(f"question {question_id} has no suggestion with rank {suggestion_rank}")
        now = _now()
        review_id = conn.execute(insert(reviews).values(
            question_id=question_id, suggestion_rank=suggestion_rank, decision=decision.value,
            edited_answer=edited_answer, note=note, reviewer=reviewer, created_at=now,
        )).inserted_primary_key[0]
        conn.execute(update(questions).where(questions.c.id == question_id).values(
            status="rejected" if decision is Decision.REJECT else "answered"))
        if decision is not Decision.REJECT:
            _learn(conn, row, draft, decision, edited_answer, reviewer, review_id, now)
    return StoredReview(review_id, suggestion_rank, decision.value, edited_answer, note, reviewer, now)


def _learn(conn, question, draft, decision: Decision, edited: str | None, reviewer: str, review_id: int,  # noqa: ANN001
           now: datetime) -> None:
    """An accepted FAQ draft gains the asker's wording as an alternate question; anything else approved
    (an SOP step, a chat answer, an edited text) becomes a new FAQ entry with its provenance."""
    base = {"review_id": review_id, "question_id": question.id, "question": question.text, "reviewer": reviewer,
            "created_at": now, "tenant": question.tenant,
            "module": question.module if question.module != "unknown" else None,
            "origin_uri": draft.uri if draft is not None else None}
    if draft is not None and decision is Decision.ACCEPT and draft.source_type == SourceType.FAQ.value:
        conn.execute(insert(learned).values(kind="alternate", faq_id=draft.source_id, answer=None, **base))
    else:
        answer = edited if decision is Decision.EDIT else draft.draft
        conn.execute(insert(learned).values(kind="entry", faq_id=f"learned-{question.id}", answer=answer, **base))


def reopen_question(engine: Engine, *, tenant: str, question_id: int, reviewer: str,
                    note: str | None = None) -> StoredReview:
    """Put an answered or rejected question back in the queue; recorded as its own trail entry."""
    with engine.begin() as conn:
        row = _question_row(conn, tenant, question_id)
        if row.status == "open":
            raise ConflictError(f"question {question_id} is already open")
        now = _now()
        review_id = conn.execute(insert(reviews).values(
            question_id=question_id, decision="reopen", note=note, reviewer=reviewer, created_at=now,
        )).inserted_primary_key[0]
        conn.execute(update(questions).where(questions.c.id == question_id).values(status="open"))
    return StoredReview(review_id, None, "reopen", None, note, reviewer, now)


def correct_tags(engine: Engine, *, tenant: str, question_id: int, reviewer: str, module: str | None = None,
                 urgency: str | None = None) -> TagCorrection:
    """An expert sets the module and/or urgency of a question, open or answered: the question takes them (the
    queue re-sorts) and the correction is appended to its trail with the tags it replaced. Validating the
    labels against the taxonomy is the caller's job; the store does not know it."""
    if module is None and urgency is None:
        raise ValueError("give a module, an urgency or both")
    with engine.begin() as conn:
        row = _question_row(conn, tenant, question_id)
        now = _now()
        correction_id = conn.execute(insert(tag_corrections).values(
            question_id=question_id, module=module, urgency=urgency, previous_module=row.module,
            previous_urgency=row.urgency, reviewer=reviewer, created_at=now,
        )).inserted_primary_key[0]
        conn.execute(update(questions).where(questions.c.id == question_id).values(
            module=module or row.module, urgency=urgency or row.urgency))
    return TagCorrection(correction_id, module, urgency, row.module, row.urgency, reviewer, now)


def expert_labelled_questions(engine: Engine, *, tenant: str) -> list[StoredQuestion]:
    """``tenant``'s questions whose tags an expert has set, oldest first: training data from the group's own
    history. A head the expert left alone keeps the classifier's tag, which the expert saw and let stand."""
    with engine.connect() as conn:
        ids = select(tag_corrections.c.question_id).distinct()
        rows = conn.execute(select(questions).where(questions.c.tenant == tenant, questions.c.id.in_(ids))
                            .order_by(questions.c.id)).all()
        return [_question(conn, row) for row in rows]


def learned_documents(engine: Engine, *, tenant: str) -> tuple[list[Document], dict[str, list[str]]]:
    """What reviews taught ``tenant``: new FAQ documents, and alternate questions per existing FAQ id — for its
    next build.

    Knowledge learned from a question that was later reopened is withdrawn until it is approved again."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(learned).join(questions, questions.c.id == learned.c.question_id)
            .where(learned.c.tenant == tenant, questions.c.tenant == tenant)
            .where(questions.c.status == "answered")
            .where(learned.c.review_id == select(func.max(reviews.c.id)).where(
                reviews.c.question_id == learned.c.question_id).scalar_subquery())
            .order_by(learned.c.id)
        ).all()
    documents, alternates = [], {}
    for row in rows:
        provenance = {"question_id": row.question_id, "reviewer": row.reviewer, "origin": row.origin_uri,
                      "learned_at": _aware(row.created_at).isoformat()}
        if row.kind == "alternate":
            alternates.setdefault(row.faq_id, []).append(row.question)
        else:
            documents.append(Document(SourceType.FAQ, row.faq_id, row.question, row.answer, module=row.module,
                                      updated_at=_aware(row.created_at).date().isoformat(),
                                      metadata={"provenance": provenance}))
    return documents, alternates


def review_stats(engine: Engine, *, tenant: str) -> dict[str, Any]:
    """``tenant``'s acceptance and edit rates, mean edit distance, median minutes to first review — overall and
    per module — and how often experts changed the classifier's tags (of the questions reviewed or retagged)."""
    import statistics

    own = questions.c.tenant == tenant
    with engine.connect() as conn:
        asked = conn.execute(select(questions.c.id, questions.c.module, questions.c.created_at).where(own)).all()
        trail = conn.execute(select(reviews).join(questions, questions.c.id == reviews.c.question_id)
                             .where(own, reviews.c.decision != "reopen").order_by(reviews.c.id)).all()
        drafts = {(d.question_id, d.rank): d.draft for d in conn.execute(
            select(suggestions).join(questions, questions.c.id == suggestions.c.question_id).where(own)).all()}
        tags = _tag_changes(conn, tenant)
    first: dict[int, Any] = {}
    for review in trail:
        first.setdefault(review.question_id, review)

    def block(ids: list[tuple[int, Any]]) -> dict[str, Any]:
        reviewed = [first[q] for q, _ in ids if q in first]
        accepted = [r for r in reviewed if r.decision == "accept"]
        edited = [r for r in reviewed if r.decision == "edit"]
        distances = [_edit_distance(drafts.get((r.question_id, r.suggestion_rank), ""), r.edited_answer or "")
                     for r in edited]
        created = dict(ids)
        waits = [(_aware(r.created_at) - _aware(created[r.question_id])).total_seconds() / 60 for r in reviewed]
        n = len(reviewed)
        return {
            "questions": len(ids),
            "reviewed": n,
            "acceptance_rate": (len(accepted) + len(edited)) / n if n else 0.0,
            "edit_rate": len(edited) / n if n else 0.0,
            "reject_rate": (n - len(accepted) - len(edited)) / n if n else 0.0,
            "mean_edit_distance": statistics.fmean(distances) if distances else 0.0,
            "median_minutes_to_first_review": statistics.median(waits) if waits else None,
        }

    per_module: dict[str, list[tuple[int, Any]]] = {}
    for q in asked:
        per_module.setdefault(q.module, []).append((q.id, q.created_at))
    return {"overall": block([(q.id, q.created_at) for q in asked]),
            "by_module": {m: block(ids) for m, ids in sorted(per_module.items())},
            "tags": tags}


def tag_changes(engine: Engine, *, tenant: str) -> dict[str, float]:
    """How often experts changed ``tenant``'s classifier tags: its live error rate on the questions they looked
    at (reviewed or retagged). ``review_stats`` includes it as ``tags``; the metrics scrape reads only this."""
    with engine.connect() as conn:
        return _tag_changes(conn, tenant)


def _tag_changes(conn: Connection, tenant: str) -> dict[str, float]:
    own = questions.c.tenant == tenant
    reviewed = set(conn.execute(select(reviews.c.question_id)
                                .join(questions, questions.c.id == reviews.c.question_id)
                                .where(own, reviews.c.decision != "reopen")).scalars())
    retags = conn.execute(select(tag_corrections)
                          .join(questions, questions.c.id == tag_corrections.c.question_id)
                          .where(own)).all()
    checked = reviewed | {t.question_id for t in retags}
    module_changed = {t.question_id for t in retags if t.module and t.module != t.previous_module}
    urgency_changed = {t.question_id for t in retags if t.urgency and t.urgency != t.previous_urgency}
    return {
        "checked": len(checked),
        "module_changed": len(module_changed),
        "urgency_changed": len(urgency_changed),
        "module_changed_rate": len(module_changed) / len(checked) if checked else 0.0,
        "urgency_changed_rate": len(urgency_changed) / len(checked) if checked else 0.0,
    }


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters (how much an expert had to change a draft)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
