"""Knowledge-base hygiene in the store: experts' resolutions of findings (append-only trail, latest per finding
counts) and how each source fared with askers and experts (served, accepted, edited, rejected) for the stale
checks of ``indexer.hygiene``."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Engine, func, insert, select

from assistant.store.engine import aware, now, reading, writing
from assistant.store.schema import kb_resolutions, questions, reviews, suggestions
from assistant.store.tenants import tenant_row
from indexer.hygiene import Action, FindingKind, Resolution, SourceUsage, base_uri

__all__ = ["list_resolutions", "record_resolution", "source_usage"]


def record_resolution(engine: Engine, *, tenant: str, finding_id: str, kind: FindingKind, action: Action,
                      uris: list[str], reviewer: str, target: str | None = None, answer: str | None = None,
                      note: str | None = None) -> Resolution:
    """Append an expert's resolution of a finding; the next build applies it. ``ValueError`` names what a
    resolution lacks (merge needs a keeper among ``uris``, retire/edit a source among them, edit an answer)."""
    if not uris:
        raise ValueError("a resolution names the finding's sources (uris)")
    if action in (Action.MERGE, Action.RETIRE, Action.EDIT) and target not in uris:
        raise ValueError(f"{action.value} needs target: one of the finding's sources ({', '.join(uris)}); "
                         f"got {target!r}")
    if action is Action.MERGE and len(uris) < 2:
        raise ValueError("merge needs at least two sources")
    if action is Action.EDIT and not (answer or "").strip():
        raise ValueError("edit needs answer: the corrected answer text")
    with writing(engine) as conn:
        tenant_row(conn, tenant)
        at = now()
        row_id = conn.execute(insert(kb_resolutions).values(
            finding_id=finding_id, kind=kind.value, action=action.value, uris=json.dumps(uris, ensure_ascii=False),
            target_uri=target, answer=answer if action is Action.EDIT else None, note=note, reviewer=reviewer,
            created_at=at, tenant=tenant,
        )).inserted_primary_key[0]
    return Resolution(finding_id, kind, action, tuple(uris), target, answer if action is Action.EDIT else None,
                      reviewer, note, at, int(row_id))


def list_resolutions(engine: Engine, *, tenant: str) -> list[Resolution]:
    """``tenant``'s resolutions, oldest first (the trail)."""
    with reading(engine) as conn:
        rows = conn.execute(select(kb_resolutions).where(kb_resolutions.c.tenant == tenant)
                            .order_by(kb_resolutions.c.id)).all()
    return [Resolution(r.finding_id, FindingKind(r.kind), Action(r.action), tuple(json.loads(r.uris)), r.target_uri,
                       r.answer, r.reviewer, r.note, aware(r.created_at), int(r.id)) for r in rows]


def source_usage(engine: Engine, *, tenant: str) -> tuple[dict[str, SourceUsage], datetime | None]:
    """Per source (document uri): drafts served, accepted, edited, and questions rejected with it as the top
    draft; with the time of ``tenant``'s first question (how much history the numbers cover, None: none)."""
    with reading(engine) as conn:
        first = conn.execute(select(func.min(questions.c.created_at)).where(questions.c.tenant == tenant)).scalar()
        drafts = conn.execute(
            select(suggestions.c.question_id, suggestions.c.rank, suggestions.c.uri, questions.c.created_at)
            .join(questions, questions.c.id == suggestions.c.question_id).where(questions.c.tenant == tenant)
        ).all()
        decided = conn.execute(
            select(reviews.c.question_id, reviews.c.decision, reviews.c.suggestion_rank, reviews.c.created_at)
            .join(questions, questions.c.id == reviews.c.question_id)
            .where(questions.c.tenant == tenant, reviews.c.decision.in_(("accept", "edit", "reject")))
        ).all()
    counts: dict[str, dict] = {}
    by_rank: dict[tuple[int, int], str] = {}
    for d in drafts:
        uri = base_uri(d.uri)
        by_rank[(d.question_id, d.rank)] = uri
        entry = counts.setdefault(uri, {"served": 0, "accepted": 0, "edited": 0, "rejected": 0,
                                        "last_served": None, "last_accepted": None})
        entry["served"] += 1
        at = aware(d.created_at)
        entry["last_served"] = max(entry["last_served"] or at, at)
    for r in decided:
        # An accept or an edit is about the draft it names (an edit without one rewrote the top draft); a
        # rejection turns down every draft, and counts against the top one.
        uri = by_rank.get((r.question_id, r.suggestion_rank or 1))
        if uri is None:
            continue
        entry = counts[uri]
        key = {"accept": "accepted", "edit": "edited", "reject": "rejected"}[r.decision]
        entry[key] += 1
        if r.decision == "accept":
            at = aware(r.created_at)
            entry["last_accepted"] = max(entry["last_accepted"] or at, at)
    return {uri: SourceUsage(**c) for uri, c in counts.items()}, aware(first) if first else None
