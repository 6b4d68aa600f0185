"""Review statistics of a tenant: acceptance, edits, time to first review, tag corrections."""

from __future__ import annotations

import statistics
from typing import Any

from sqlalchemy import Connection, Engine, select

from assistant.store.engine import aware, reading
from assistant.store.schema import questions, reviews, suggestions, tag_corrections

__all__ = ["review_stats", "tag_changes"]


def review_stats(engine: Engine, *, tenant: str) -> dict[str, Any]:
    """``tenant``'s acceptance and edit rates, mean edit distance, median minutes to first review — overall and
    per module — and how often experts changed the classifier's tags (of the questions reviewed or retagged)."""
    own = questions.c.tenant == tenant
    with reading(engine) as conn:
        asked = conn.execute(select(questions.c.id, questions.c.module, questions.c.created_at)
                             .where(own, questions.c.off_topic.is_(False))).all()
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
        waits = [(aware(r.created_at) - aware(created[r.question_id])).total_seconds() / 60 for r in reviewed]
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
    with reading(engine) as conn:
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
    # Either way: a real question the gate turned away, or chatter it let through.
    gate_changed = {t.question_id for t in retags
                    if t.off_topic is not None and t.off_topic != bool(t.previous_off_topic)}
    return {
        "checked": len(checked),
        "module_changed": len(module_changed),
        "urgency_changed": len(urgency_changed),
        "off_topic_changed": len(gate_changed),
        "module_changed_rate": len(module_changed) / len(checked) if checked else 0.0,
        "urgency_changed_rate": len(urgency_changed) / len(checked) if checked else 0.0,
        "off_topic_changed_rate": len(gate_changed) / len(checked) if checked else 0.0,
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

