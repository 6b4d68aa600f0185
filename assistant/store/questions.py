"""Questions with their drafts, the append-only review trail, experts' tag corrections, and the knowledge
reviews teach the next build.

A decision is taken once: the question row is locked and its status moved from ``open`` in the same
transaction that appends the decision, so of several experts deciding at once one wins and the others get
``ConflictError`` (HTTP 409), on every path that records reviews (API, review page, chat, CLI).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, update

from assistant.store.engine import ConflictError, NotFoundError, aware, now, reading, writing
from assistant.store.schema import api_keys, learned, questions, reviews, suggestions, tag_corrections
from assistant.store.tenants import tenant_row
from erp_assist.domain import Decision, Document, SourceType, SuggestResult

__all__ = [
    "StoredQuestion", "StoredSuggestion", "StoredReview", "TagCorrection", "record_question", "get_question",
    "list_queue", "record_review", "reopen_question", "correct_tags", "expert_labelled_questions",
    "learned_documents",
]


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
    off_topic: bool | None = None  # None: this correction left the off-topic flag alone
    previous_off_topic: bool | None = None


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
    off_topic: bool = False


def record_question(engine: Engine, *, tenant: str, result: SuggestResult, asker: str | None = None,
                    group: str | None = None, context: str | None = None, key_id: int | None = None) -> int:
    """Store one suggest call in ``tenant``'s queue: the question, its tags and every draft shown."""
    c = result.classification
    with writing(engine) as conn:
        tenant_row(conn, tenant)
        if key_id is not None:
            owner = conn.execute(select(api_keys.c.tenant).where(api_keys.c.id == key_id)).scalar()
            if owner != tenant:
                raise ValueError(f"key {key_id} belongs to tenant {owner!r}, not {tenant!r}")
        question_id = conn.execute(
            insert(questions).values(
                text=result.question, asker=asker, group_name=group, context=context, module=c.module,
                urgency=c.urgency.value, module_confidence=c.module_confidence,
                urgency_confidence=c.urgency_confidence, cues=json.dumps(c.cues, ensure_ascii=False),
                abstained=result.abstained, build_id=result.build_id, key_id=key_id, status="open", created_at=now(),
                off_topic=result.off_topic,
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
    return _questions(conn, [row])[0]


def _questions(conn, rows) -> list[StoredQuestion]:  # noqa: ANN001
    """The questions of ``rows`` with their drafts, trails and corrections: three queries however many rows (a
    queue of 100 read one question at a time was 300 queries, and 20 experts opening it at once slowed every
    suggest)."""
    ids = [row.id for row in rows]
    drafts: dict[int, list] = {i: [] for i in ids}
    trails: dict[int, list] = {i: [] for i in ids}
    retags: dict[int, list] = {i: [] for i in ids}
    for table, into, order in ((suggestions, drafts, suggestions.c.rank), (reviews, trails, reviews.c.id),
                               (tag_corrections, retags, tag_corrections.c.id)):
        for child in conn.execute(select(table).where(table.c.question_id.in_(ids)).order_by(order)) if ids else ():
            into[child.question_id].append(child)
    return [_stored(row, drafts[row.id], trails[row.id], retags[row.id]) for row in rows]


def _stored(row, drafts, trail, retags) -> StoredQuestion:  # noqa: ANN001
    return StoredQuestion(
        id=row.id, text=row.text, asker=row.asker, group=row.group_name, module=row.module, urgency=row.urgency,
        module_confidence=row.module_confidence, urgency_confidence=row.urgency_confidence,
        cues=json.loads(row.cues), abstained=row.abstained, status=row.status, key_id=row.key_id,
        tenant=row.tenant, created_at=aware(row.created_at), off_topic=bool(row.off_topic),
        suggestions=[StoredSuggestion(d.rank, d.score, d.draft, d.source_type, d.source_id, d.uri, d.url, d.title,
                                      d.excerpt) for d in drafts],
        reviews=[StoredReview(r.id, r.suggestion_rank, r.decision, r.edited_answer, r.note, r.reviewer,
                              aware(r.created_at)) for r in trail],
        tag_corrections=[_tag_correction(t) for t in retags],
    )


def _tag_correction(row) -> TagCorrection:  # noqa: ANN001
    return TagCorrection(row.id, row.module, row.urgency, row.previous_module, row.previous_urgency,
                         row.reviewer, aware(row.created_at), row.off_topic, row.previous_off_topic)


def _question_row(conn: Connection, tenant: str, question_id: int, *, lock: bool = False):  # noqa: ANN202
    # Another tenant's question gets the very same answer as a missing one: its existence is not disclosed.
    query = select(questions).where(questions.c.id == question_id, questions.c.tenant == tenant)
    # PostgreSQL: a decision holds the row until it commits, so a second decider reads the new status. SQLite
    # ignores FOR UPDATE; its writers are serialized by BEGIN IMMEDIATE.
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFoundError(f"no question {question_id}")
    return row


def get_question(engine: Engine, *, tenant: str, question_id: int) -> StoredQuestion:
    with reading(engine) as conn:
        return _question(conn, _question_row(conn, tenant, question_id))


def list_queue(engine: Engine, *, tenant: str, module: str | None = None, limit: int = 100) -> list[StoredQuestion]:
    """``tenant``'s open questions, P1 first, then oldest first; messages turned away as off-topic are not in
    it."""
    query = select(questions).where(questions.c.tenant == tenant, questions.c.status == "open",
                                    questions.c.off_topic.is_(False))
    if module:
        query = query.where(questions.c.module == module)
    query = query.order_by(questions.c.urgency, questions.c.created_at, questions.c.id).limit(limit)
    with reading(engine) as conn:
        return _questions(conn, conn.execute(query).all())


def record_review(engine: Engine, *, tenant: str, question_id: int, decision: Decision, reviewer: str,
                  suggestion_rank: int | None = None, edited_answer: str | None = None,
                  note: str | None = None, merge_into: str | None = None) -> StoredReview:
    """Append a decision; accept/edit also teach the knowledge base. The trail is never rewritten.

    ``merge_into``: the FAQ id (a source's or ``learned-<id>``) the approved answer duplicates: the question
    becomes that entry's alternate instead of a new entry (knowledge-base hygiene, issue #20)."""
    if decision is Decision.EDIT and not (edited_answer or "").strip():
        raise ValueError("decision 'edit' needs edited_answer: the corrected answer text")
    if decision is Decision.ACCEPT and suggestion_rank is None:
        raise ValueError("decision 'accept' needs suggestion_rank: which draft is accepted")
    with writing(engine) as conn:
        row = _question_row(conn, tenant, question_id, lock=True)
        if row.status != "open":
            raise ConflictError(f"question {question_id} is already {row.status}; reopen it first")
        draft = None
        if suggestion_rank is not None:
            draft = conn.execute(select(suggestions).where(
                suggestions.c.question_id == question_id, suggestions.c.rank == suggestion_rank)).first()
            if draft is None:
                raise NotFoundError(f"question {question_id} has no suggestion with rank {suggestion_rank}")
        _move(conn, question_id, "open", "rejected" if decision is Decision.REJECT else "answered")
        at = now()
        review_id = conn.execute(insert(reviews).values(
            question_id=question_id, suggestion_rank=suggestion_rank, decision=decision.value,
            edited_answer=edited_answer, note=note, reviewer=reviewer, created_at=at,
        )).inserted_primary_key[0]
        if decision is not Decision.REJECT:
            _learn(conn, row, draft, decision, edited_answer, reviewer, review_id, at, merge_into)
    return StoredReview(review_id, suggestion_rank, decision.value, edited_answer, note, reviewer, at)


def _move(conn: Connection, question_id: int, source: str, target: str) -> None:
    """Move the question from status ``source`` to ``target``, or ``ConflictError`` when another transaction
    moved it first: the WHERE on the status makes the check and the change one statement on every database."""
    moved = conn.execute(update(questions).where(questions.c.id == question_id, questions.c.status == source)
                         .values(status=target)).rowcount
    if moved != 1:
        raise ConflictError(f"question {question_id} was decided by someone else just now; reload it")


def _learn(conn, question, draft, decision: Decision, edited: str | None, reviewer: str, review_id: int,  # noqa: ANN001
           at: datetime, merge_into: str | None = None) -> None:
    """An accepted FAQ draft gains the asker's wording as an alternate question; anything else approved
    (an SOP step, a chat answer, an edited text) becomes a new FAQ entry with its provenance — unless it
    duplicates an existing entry (``merge_into``), whose alternate it then becomes (the answer stays in the row,
    for the trail)."""
    base = {"review_id": review_id, "question_id": question.id, "question": question.text, "reviewer": reviewer,
            "created_at": at, "tenant": question.tenant,
            "module": question.module if question.module != "unknown" else None,
            "origin_uri": draft.uri if draft is not None else None}
    if merge_into:
        answer = edited if decision is Decision.EDIT else draft.draft if draft is not None else None
        conn.execute(insert(learned).values(kind="alternate", faq_id=merge_into, answer=answer, **base))
    elif draft is not None and decision is Decision.ACCEPT and draft.source_type == SourceType.FAQ.value:
        conn.execute(insert(learned).values(kind="alternate", faq_id=draft.source_id, answer=None, **base))
    else:
        answer = edited if decision is Decision.EDIT else draft.draft
        conn.execute(insert(learned).values(kind="entry", faq_id=f"learned-{question.id}", answer=answer, **base))


def reopen_question(engine: Engine, *, tenant: str, question_id: int, reviewer: str,
                    note: str | None = None) -> StoredReview:
    """Put an answered or rejected question back in the queue; recorded as its own trail entry."""
    with writing(engine) as conn:
        row = _question_row(conn, tenant, question_id, lock=True)
        if row.status == "open":
            raise ConflictError(f"question {question_id} is already open")
        _move(conn, question_id, row.status, "open")
        at = now()
        review_id = conn.execute(insert(reviews).values(
            question_id=question_id, decision="reopen", note=note, reviewer=reviewer, created_at=at,
        )).inserted_primary_key[0]
    return StoredReview(review_id, None, "reopen", None, note, reviewer, at)


def correct_tags(engine: Engine, *, tenant: str, question_id: int, reviewer: str, module: str | None = None,
                 urgency: str | None = None, off_topic: bool | None = None) -> TagCorrection:
    """An expert sets the module, urgency and/or off-topic flag of a question, open or answered: the question
    takes them (the queue re-sorts; a question marked on topic joins it, one marked off-topic leaves it) and the
    correction is appended to its trail with the tags it replaced. Validating the labels against the taxonomy
    is the caller's job; the store does not know it."""
    if module is None and urgency is None and off_topic is None:
        raise ValueError("give a module, an urgency, the off-topic flag or several")
    with writing(engine) as conn:
        row = _question_row(conn, tenant, question_id, lock=True)
        at = now()
        correction_id = conn.execute(insert(tag_corrections).values(
            question_id=question_id, module=module, urgency=urgency, previous_module=row.module,
            previous_urgency=row.urgency, reviewer=reviewer, created_at=at, off_topic=off_topic,
            previous_off_topic=row.off_topic,
        )).inserted_primary_key[0]
        conn.execute(update(questions).where(questions.c.id == question_id).values(
            module=module or row.module, urgency=urgency or row.urgency,
            off_topic=row.off_topic if off_topic is None else off_topic))
    return TagCorrection(correction_id, module, urgency, row.module, row.urgency, reviewer, at, off_topic,
                         bool(row.off_topic))


def expert_labelled_questions(engine: Engine, *, tenant: str) -> list[StoredQuestion]:
    """``tenant``'s questions whose tags an expert has set, oldest first: training data from the group's own
    history. A head the expert left alone keeps the classifier's tag, which the expert saw and let stand."""
    with reading(engine) as conn:
        ids = select(tag_corrections.c.question_id).distinct()
        rows = conn.execute(select(questions).where(questions.c.tenant == tenant, questions.c.id.in_(ids))
                            .order_by(questions.c.id)).all()
        return _questions(conn, rows)


def learned_documents(engine: Engine, *, tenant: str) -> tuple[list[Document], dict[str, list[str]]]:
    """What reviews taught ``tenant``: new FAQ documents, and alternate questions per existing FAQ id — for its
    next build.

    Knowledge learned from a question that was later reopened is withdrawn until it is approved again."""
    with reading(engine) as conn:
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
                      "learned_at": aware(row.created_at).isoformat()}
        if row.kind == "alternate":
            alternates.setdefault(row.faq_id, []).append(row.question)
        else:
            documents.append(Document(SourceType.FAQ, row.faq_id, row.question, row.answer, module=row.module,
                                      updated_at=aware(row.created_at).date().isoformat(),
                                      metadata={"provenance": provenance}))
    return documents, alternates

