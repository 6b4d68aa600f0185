"""Questions and their review trail: read one, decide on its drafts, reopen it — within the caller's tenant; another
tenant's question id is a 404 like a missing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from assistant.auth import allows
from assistant.deps import AskerKey, ExpertKey, StoreDep
from assistant.schemas import QuestionOut, ReopenRequest, ReviewOut, ReviewRequest
from assistant.store import ConflictError, NotFoundError, get_question, record_review, reopen_question
from erp_assist.domain import Decision

router = APIRouter(prefix="/v1/questions", tags=["review"])
QuestionId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Question id from /v1/suggest")]


@router.get("/{question_id}", response_model=QuestionOut)
def read_question(question_id: QuestionId, store: StoreDep, key: AskerKey) -> QuestionOut:
    try:
        question = get_question(store, tenant=key.tenant, question_id=question_id)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    if not allows(key.role, "expert") and question.key_id != key.id:
        raise HTTPException(status_code=404, detail=f"no question {question_id}")  # askers see only their own
    return QuestionOut.from_stored(question)


@router.post("/{question_id}/review", response_model=ReviewOut)
def review(question_id: QuestionId, body: ReviewRequest, store: StoreDep, key: ExpertKey) -> ReviewOut:
    try:
        stored = record_review(store, tenant=key.tenant, question_id=question_id, decision=Decision(body.decision),
                               reviewer=key.name, suggestion_rank=body.suggestion_rank,
                               edited_answer=body.edited_answer, note=body.note)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return ReviewOut(**stored.__dict__)


@router.post("/{question_id}/reopen", response_model=ReviewOut)
def reopen(question_id: QuestionId, body: ReopenRequest, store: StoreDep, key: ExpertKey) -> ReviewOut:
    try:
        stored = reopen_question(store, tenant=key.tenant, question_id=question_id, reviewer=key.name,
                                 note=body.note)
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from exc
    except ConflictError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    return ReviewOut(**stored.__dict__)
