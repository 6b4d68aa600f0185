"""What experts decided about the assistant's drafts, per question: training data for abstention.

A question whose drafts were all rejected is one the knowledge base did not answer; one whose draft was
accepted is one it did. Only a question's latest decision counts, and a reopened question (back in the queue)
counts for nothing until it is decided again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from assistant.store.engine import reading
from assistant.store.schema import questions, reviews
from erp_assist.domain import Decision

__all__ = ["ReviewOutcome", "review_outcomes"]


@dataclass(frozen=True)
class ReviewOutcome:
    question_id: int
    question: str
    accepted_rank: int | None  # the accepted draft's rank; None for a rejection or an edit
    rejected: bool  # every draft rejected (or, on an abstained question, the expert confirmed no answer)
    abstained: bool  # the assistant had abstained on the question


def review_outcomes(engine: Engine, *, tenant: str) -> list[ReviewOutcome]:
    """``tenant``'s decided questions with their latest decision, oldest first."""
    latest = (select(reviews.c.question_id, func.max(reviews.c.id).label("review_id"))
              .group_by(reviews.c.question_id).subquery())
    with reading(engine) as conn:
        rows = conn.execute(
            select(questions.c.id, questions.c.text, questions.c.abstained, reviews.c.decision,
                   reviews.c.suggestion_rank)
            .join(latest, latest.c.question_id == questions.c.id)
            .join(reviews, reviews.c.id == latest.c.review_id)
            .where(questions.c.tenant == tenant, questions.c.status.in_(("answered", "rejected")))
            .order_by(questions.c.id)
        ).all()
    return [
        ReviewOutcome(
            question_id=int(row.id), question=row.text, abstained=bool(row.abstained),
            accepted_rank=row.suggestion_rank if row.decision == Decision.ACCEPT.value else None,
            rejected=row.decision == Decision.REJECT.value,
        )
        for row in rows
    ]
